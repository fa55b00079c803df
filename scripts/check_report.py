"""Drives headless Chromium over the DevTools protocol: loads a report, collects console
messages, exceptions and failed requests, checks every image decoded, and screenshots the
whole page. See scripts/check-report."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def main():
    browser, report, screenshot = sys.argv[1:4]
    if not os.path.isfile(report):
        sys.exit(f"error: {report}: no such file")
    profile = tempfile.mkdtemp(prefix="convnet-report-check-")
    process = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 30
        while time.time() < deadline and port is None:
            line = process.stderr.readline()
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
        if port is None:
            sys.exit("error: chromium did not start its DevTools server")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(target for target in targets if target["type"] == "page")
        socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        problems, counter = [], [0]

        def send(method, **params):
            counter[0] += 1
            socket.send(json.dumps({"id": counter[0], "method": method, "params": params}))
            while True:
                message = json.loads(socket.recv())
                if message.get("id") == counter[0]:
                    if "error" in message:
                        sys.exit(f"error: {method}: {message['error']}")
                    return message.get("result", {})
                note(message)

        def note(message):
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                problems.append("console " + params["type"] + ": " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                problems.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                problems.append("log " + params["entry"]["level"] + ": " + params["entry"]["text"])
            elif method == "Network.loadingFailed":
                problems.append("request failed: " + params.get("errorText", ""))
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    problems.append("fetches from the network: " + url)

        for domain in ("Runtime", "Log", "Page", "Network"):
            send(domain + ".enable")
        send("Page.navigate", url="file://" + os.path.abspath(report))
        deadline = time.time() + 30
        loaded = False
        while time.time() < deadline and not loaded:
            message = json.loads(socket.recv())
            note(message)
            loaded = message.get("method") == "Page.loadEventFired"
        if not loaded:
            sys.exit("error: the page did not finish loading in 30 s")
        check = send("Runtime.evaluate", returnByValue=True, expression="""
            JSON.stringify({
              title: document.title,
              images: document.images.length,
              broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
              charts: document.querySelectorAll('svg').length,
              height: Math.ceil(document.documentElement.scrollHeight)
            })""")
        facts = json.loads(check["result"]["value"])
        for alt in facts["broken"]:
            problems.append(f"image did not load: {alt}")
        if facts["charts"] == 0:
            problems.append("no chart (svg) on the page")
        send("Emulation.setDeviceMetricsOverride", width=1280, height=min(facts["height"], 16000), deviceScaleFactor=1, mobile=False)
        shot = send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(screenshot, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        print(f"{report}: \"{facts['title']}\", {facts['charts']} charts, {facts['images']} images, "
              f"{facts['height']} px tall; screenshot in {screenshot}")
        if problems:
            for problem in problems:
                print("error: " + problem, file=sys.stderr)
            sys.exit(1)
        print("OK: no console error, no failed request, every image loaded")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
