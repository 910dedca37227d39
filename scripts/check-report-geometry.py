#!/usr/bin/env python3
"""Checks a report's layout in headless Chromium, in the page's own geometry, at
1,400 px and at 420 px (a phone): the page never scrolls sideways (wide tables
scroll inside themselves), no chart is wider than its box, and every line of
every chart lies inside that chart's plot area (`rect.plot-area`, which the
chart code writes). Networking is off; the page's CSP forbids scripts, so the
checks run through the DevTools protocol, which the page's CSP does not bind.
A full-page screenshot at each width is written beside the report
(`report-1400.png`, `report-420.png`).

    scripts/check-report-geometry.py REPORT.html [REPORT.html ...]

Exit 0 when every report passes at both widths, 1 with the problems otherwise.
Needs `chromium` and the PyPI package `websocket-client`.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import websocket

WIDTHS = (1400, 420)

CHECK = r"""
(() => {
  const problems = [];
  const doc = document.documentElement;
  // clientWidth is the layout viewport (a phone zooms out to fit, so innerWidth grows).
  if (doc.scrollWidth > doc.clientWidth + 1) {
    problems.push(`the page scrolls sideways: ${doc.scrollWidth} px wide in ${doc.clientWidth}`);
  }
  const charts = [...document.querySelectorAll('div.chart')];
  charts.forEach((box, i) => {
    const svg = box.querySelector('svg');
    if (!svg) return;
    const name = box.getAttribute('aria-label') || `chart ${i}`;
    const b = box.getBoundingClientRect(), s = svg.getBoundingClientRect();
    if (s.left < b.left - 1 || s.right > b.right + 1) {
      problems.push(`${name}: the chart (${s.width} px) overflows its box (${b.width} px)`);
    }
    // Inside a table that scrolls sideways, a chart can be cut by the table's edge.
    if (b.left < -1 || b.right > doc.clientWidth + 1) {
      problems.push(`${name}: the chart's box (${Math.round(b.left)}-${Math.round(b.right)} px) is cut by the ${doc.clientWidth} px page`);
    }
    const area = svg.querySelector('rect.plot-area');
    if (!area) { problems.push(`${name}: no plot area`); return; }
    const a = area.getBoundingClientRect(), slack = 2;
    // The series are the 2 px lines (ticks, outside the plot area, are 1 px).
    svg.querySelectorAll('polyline[stroke-width="2"]').forEach(p => {
      const r = p.getBoundingClientRect();
      if (r.left < a.left - slack || r.right > a.right + slack ||
          r.top < a.top - slack || r.bottom > a.bottom + slack) {
        problems.push(`${name}: a line (${Math.round(r.left)},${Math.round(r.top)})-` +
          `(${Math.round(r.right)},${Math.round(r.bottom)}) leaves the plot area ` +
          `(${Math.round(a.left)},${Math.round(a.top)})-(${Math.round(a.right)},${Math.round(a.bottom)})`);
      }
    });
  });
  return JSON.stringify({charts: charts.length, problems});
})()
"""


class Browser:
    """One headless Chromium, driven over its DevTools websocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="report-geometry-")
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={self.profile}", "--proxy-server=http://127.0.0.1:9",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.time() + 30
        while url is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            url = m.group(1) if m else None
        if url is None:
            self.close()
            sys.exit("chromium did not start its DevTools endpoint")
        self.ws = websocket.create_connection(url, timeout=30)
        self.next_id = 0

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, event, session):
        deadline = time.time() + 30
        while time.time() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("method") == event and message.get("sessionId") == session:
                return
        raise RuntimeError(f"no {event} within 30 s")

    def check(self, path, width):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
                  session)
        self.send("Page.enable", session=session)
        self.send("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session)
        self.wait_for("Page.loadEventFired", session)
        result = self.send("Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session)
        shot = self.send("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True}, session)
        png = os.path.join(os.path.dirname(os.path.abspath(path)), f"report-{width}.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        self.send("Target.closeTarget", {"targetId": target})
        return json.loads(result["result"]["value"])

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    reports = sys.argv[1:]
    if not reports:
        sys.exit(__doc__)
    browser = Browser()
    failed = False
    try:
        for path in reports:
            for width in WIDTHS:
                outcome = browser.check(path, width)
                for p in outcome["problems"]:
                    print(f"{path} at {width} px: {p}")
                    failed = True
                if not outcome["problems"]:
                    print(f"{path} at {width} px: ok ({outcome['charts']} charts inside their boxes, every line inside its plot area)")
    finally:
        browser.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
