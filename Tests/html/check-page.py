"""Opens a lockstat page (index.html) in headless Chromium through Selenium and prints, as one
JSON object, what a person would check by hand: console errors, network requests, the module
sections, whether sorting, filtering, flame-graph zoom and the shared time cursor work, alerts
and <img> elements (for hostile names). Screenshots go to SHOTS_DIR.

usage: check-page.py PAGE SHOTS_DIR [--no-javascript]"""
import json
import sys

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

page, shots = sys.argv[1], sys.argv[2]
javascript = "--no-javascript" not in sys.argv

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,2200"):
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
if not javascript:
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
seen = {}
try:
    url = "file://" + page
    driver.get(url)
    seen["sections"] = [s.get_attribute("id") for s in driver.find_elements(By.CSS_SELECTOR, "section.module")]
    seen["tables"] = len(driver.find_elements(By.CSS_SELECTOR, "table.lt"))
    seen["table_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "table.lt tbody tr"))
    seen["charts"] = len(driver.find_elements(By.CSS_SELECTOR, "figure.tc svg"))
    seen["flames"] = len(driver.find_elements(By.CSS_SELECTOR, "svg.flamegraph"))
    seen["buttons"] = len(driver.find_elements(By.CSS_SELECTOR, "button"))
    seen["images"] = len(driver.find_elements(By.TAG_NAME, "img"))
    seen["text"] = driver.find_element(By.TAG_NAME, "body").text
    driver.save_screenshot(shots + "/page-top.png")
    if javascript:
        # Sorting: the first table with 3 or more rows, by its first column, twice.
        table = next(t for t in driver.find_elements(By.CSS_SELECTOR, "table.lt") if len(t.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 3)
        header = table.find_elements(By.CSS_SELECTOR, "thead th")[0]
        def column():
            return [float(c.get_attribute("data-v") or "-inf") for c in table.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")]
        header.click()
        seen["sorted_desc"] = column()
        header.click()
        seen["sorted_asc"] = column()
        # Filtering: a table with a filter box, by the text of its last row's last cell.
        boxes = driver.find_elements(By.CSS_SELECTOR, "input.filter")
        if boxes:
            box = boxes[0]
            filtered = box.find_element(By.XPATH, "following-sibling::table")
            rows = filtered.find_elements(By.CSS_SELECTOR, "tbody tr")
            term = rows[-1].find_elements(By.TAG_NAME, "td")[-1].get_attribute("textContent")
            box.send_keys(term)
            visible = [r.get_attribute("textContent") for r in rows if r.is_displayed()]
            seen["filter"] = {"term": term, "rows": len(rows), "visible": len(visible), "all_match": all(term.lower() in v.lower() for v in visible)}
        # Zoom: click a frame one level above the root that is narrower than the whole.
        frames = [g for g in driver.find_elements(By.CSS_SELECTOR, "svg.flamegraph g.f")
                  if g.get_attribute("data-d") == "1" and float(g.get_attribute("data-w")) < 0.9]
        if frames:
            frame = frames[0]
            before = float(frame.find_element(By.TAG_NAME, "rect").get_attribute("width"))
            driver.execute_script("arguments[0].scrollIntoView()", frame)
            ActionChains(driver).move_to_element(frame.find_element(By.TAG_NAME, "rect")).click().perform()
            seen["zoom"] = {"before": before, "after": float(frame.find_element(By.TAG_NAME, "rect").get_attribute("width"))}
            driver.save_screenshot(shots + "/flame-zoomed.png")
        # The cursor: move over the first chart, look at the last one.
        charts = driver.find_elements(By.CSS_SELECTOR, "figure.tc")
        if len(charts) >= 2:
            first, last = charts[0], charts[-1]
            driver.execute_script("arguments[0].scrollIntoView()", first)
            svg = first.find_element(By.TAG_NAME, "svg")
            ActionChains(driver).move_to_element_with_offset(svg, 0, 0).perform()
            line = last.find_element(By.CSS_SELECTOR, "line.cursor")
            seen["cursor"] = {"visibility": line.get_attribute("visibility"), "x": line.get_attribute("x1"),
                              "readout": last.find_element(By.CSS_SELECTOR, "figcaption.readout").get_attribute("textContent")}
            driver.save_screenshot(shots + "/cursor.png")
        try:
            seen["alert"] = driver.switch_to.alert.text
        except NoAlertPresentException:
            seen["alert"] = None
    seen["console_errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    seen["requests"] = [r for r in requests if r != url]
finally:
    driver.quit()
print(json.dumps(seen))
