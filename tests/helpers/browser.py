"""Headless Chromium for the page tests (Debian's chromium +
chromium-driver, installed by .ci/run)."""
import subprocess

#: flags of every headless run: no network extras, no GPU, a fixed window
CHROME_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu',
                '--disable-quic', '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage',
                '--autoplay-policy=no-user-gesture-required',
                '--window-size=1280,1400')


def headless_chrome(chromium: str, driver_path: str, profile_dir: str):
    """A selenium driver of headless Chromium with its own profile folder.

    Args:
        chromium (str): the browser binary.
        driver_path (str): the chromedriver binary.
        profile_dir (str): a fresh user-data folder.

    Returns:
        selenium.webdriver.Chrome: the driver (quit it when done).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS + (f'--user-data-dir={profile_dir}', ):
        options.add_argument(flag)
    return webdriver.Chrome(
        service=Service(driver_path, log_output=subprocess.DEVNULL),
        options=options)
