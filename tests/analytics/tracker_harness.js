// Runs services/analytics/tracker.js against a minimal fake browser and prints what it sent.
// Usage: node tracker_harness.js <tracker.js> <scenario>
const fs = require("fs");
const vm = require("vm");
const [, , trackerPath, scenario] = process.argv;
const sent = [];
const listeners = {};
const docListeners = {};
const location = { href: "https://bhxh.phuyen.gov.vn/tin-tuc?x=1", pathname: "/tin-tuc" };
const document = {
  currentScript: {
    src: "https://api.portal.gov.vn/v1/analytics/script.js",
    getAttribute: (n) => ({ "data-portal": "phu-yen" })[n] || null,
  },
  referrer: "https://www.google.com/",
  prerendering: scenario === "prerender",
  visibilityState: scenario === "prerender-legacy" ? "prerender" : "visible",
  cookie: "",
  querySelector: (sel) => (sel.includes("article") ? { getAttribute: () => "art-1" } : null),
  addEventListener: (t, f) => { (docListeners[t] = docListeners[t] || []).push(f); },
  removeEventListener: (t, f) => { docListeners[t] = (docListeners[t] || []).filter((g) => g !== f); },
};
function Blob(parts, opts) { this.text = parts.join(""); this.type = opts.type; }
const navigator = {
  webdriver: scenario === "webdriver",
  sendBeacon: (url, blob) => { sent.push({ url, type: blob.type, body: JSON.parse(blob.text) }); return true; },
};
const history = {
  pushState: (state, title, url) => {
    const u = new URL(url, location.href);
    location.href = u.href;
    location.pathname = u.pathname;
  },
};
const window = {
  innerWidth: 1280,
  addEventListener: (t, f) => { (listeners[t] = listeners[t] || []).push(f); },
};
const storage = new Proxy({}, { get: () => { throw new Error("storage used"); } });
const context = { window, document, navigator, history, location, Blob, URL, JSON, Math, Date, String,
  localStorage: storage, sessionStorage: storage };
window.history = history;
vm.createContext(context);
vm.runInContext(fs.readFileSync(trackerPath, "utf8"), context);
if (scenario === "spa") {
  history.pushState({}, "", "/tin-tuc/bai-1");
  history.pushState({}, "", "/tin-tuc/bai-1?tab=2");
  history.pushState({}, "", "/tin-tuc/bai-1#comments");
  history.pushState({}, "", "/van-ban");
  location.pathname = "/tin-tuc/bai-1";
  location.href = "https://bhxh.phuyen.gov.vn/tin-tuc/bai-1";
  (listeners.popstate || []).forEach((f) => f());
  window.portalAnalytics.event("tai-van-ban");
}
const before = sent.length;
if (scenario === "prerender") {
  (docListeners.prerenderingchange || []).forEach((f) => f());
}
if (scenario === "prerender-legacy") {
  document.visibilityState = "visible";
  (docListeners.visibilitychange || []).slice().forEach((f) => f());
}
process.stdout.write(JSON.stringify({ sent, cookie: document.cookie, before }));
