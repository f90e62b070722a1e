/* Portal Platform analytics tracker: no cookies, no storage.
   <script defer src="https://GATEWAY/v1/analytics/script.js" data-portal="phu-yen"></script>
   Custom events: portalAnalytics.event("download") */
(function () {
  "use strict";
  var d = document, w = window, n = navigator, s = d.currentScript;
  var portal = s && s.getAttribute("data-portal");
  if (!portal) return;
  var base = s.getAttribute("data-api") || new URL(s.src).origin;
  var endpoint = base.replace(/\/$/, "") + "/v1/analytics/events";
  var last = null;

  function meta(key) {
    var m = d.querySelector('meta[name="portal:' + key + '"]');
    return m ? m.getAttribute("content") : null;
  }

  function send(type, name) {
    var b = {
      portal: portal, url: location.href, type: type, screen_width: w.innerWidth,
      id: Math.random().toString(36).slice(2) + Date.now().toString(36),
      webdriver: !!n.webdriver
    };
    if (type === "event") b.name = String(name).slice(0, 100);
    else {
      if (d.referrer) b.referrer = d.referrer;
      if (meta("article")) b.article = meta("article");
      if (meta("category")) b.category = meta("category");
    }
    var body = JSON.stringify(b);
    // text/plain keeps the request "simple": no CORS preflight, works while unloading.
    if (n.sendBeacon && n.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }))) return;
    if (w.fetch) fetch(endpoint, {
      method: "POST", body: body, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain" }
    }).catch(function () {});
  }

  function page() {
    // A pushState to the path already shown (filters, anchors) is not a new page.
    if (location.pathname === last) return;
    last = location.pathname;
    send("pageview");
  }

  function whenShown(start) {
    // A prerendered page nobody has looked at yet is not a page view.
    if (d.prerendering) d.addEventListener("prerenderingchange", start, { once: true });
    else if (d.visibilityState === "prerender") {
      d.addEventListener("visibilitychange", function on() {
        if (d.visibilityState === "prerender") return;
        d.removeEventListener("visibilitychange", on);
        start();
      });
    } else start();
  }

  whenShown(page);
  var push = history.pushState;
  history.pushState = function () {
    var result = push.apply(this, arguments);
    page();
    return result;
  };
  w.addEventListener("popstate", page);
  w.portalAnalytics = { event: function (name) { send("event", name); } };
})();
