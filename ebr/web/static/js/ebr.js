/* EBR browser behaviour. Loaded as a file (the Content-Security-Policy forbids inline
   script). Small on purpose: htmx does the requests, this file only does what htmx
   does not: connection state, idle warning, countdowns, the plant clock, dialogs,
   and one submission per click. */
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  /* --- Connection state: shown at once, cleared when a request or stream succeeds --- */
  var lost = false;
  function setConnection(ok) {
    var banner = $("#connection-lost");
    if (!banner) { return; }
    lost = !ok;
    banner.hidden = ok;
    document.body.classList.toggle("offline", !ok);
    $all("[data-needs-connection]").forEach(function (el) { el.disabled = !ok; });
  }
  window.addEventListener("offline", function () { setConnection(false); });
  window.addEventListener("online", function () { setConnection(true); });
  document.addEventListener("htmx:sendError", function () { setConnection(false); });
  document.addEventListener("htmx:sseError", function () { setConnection(false); });
  document.addEventListener("htmx:sseOpen", function () { setConnection(true); });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail && e.detail.xhr && e.detail.xhr.status > 0) { setConnection(true); }
  });
  /* A request while the connection is lost is refused in the browser: the operator
     resubmits deliberately once the banner is gone, never twice by accident. */
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (lost && e.detail.requestConfig && e.detail.requestConfig.verb !== "get") { e.preventDefault(); }
  });

  /* --- One submission per click for plain forms (htmx forms use hx-disabled-elt) --- */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    /* htmx forms disable their own buttons while the request runs; GET forms may repeat. */
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get") || (form.method || "get").toLowerCase() === "get") { return; }
    if (form.dataset.submitted === "1") { e.preventDefault(); return; }
    form.dataset.submitted = "1";
    $all("button[type=submit], button:not([type])", form).forEach(function (b) { b.disabled = true; });
  });

  /* --- Dialogs: open with a button, or when the server swaps one in (once: the
     attribute goes, so a later swap elsewhere does not reopen a dialog the user closed) --- */
  function openDialogs(root) {
    $all("dialog[data-auto-open]", root).forEach(function (d) {
      d.removeAttribute("data-auto-open");
      if (!d.open && d.showModal) { d.showModal(); var f = $("input:not([type=hidden])", d); if (f) { f.focus(); } }
    });
  }
  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open-dialog]");
    if (opener) {
      var d = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (d && d.showModal) { d.showModal(); var f = $("input:not([type=hidden])", d); if (f) { f.focus(); } }
    }
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) { var dlg = closer.closest("dialog"); if (dlg) { dlg.close(); } }
  });
  /* The whole document: after an outerHTML swap the event's target is the replaced element. */
  document.addEventListener("htmx:afterSwap", function () { openDialogs(document); tick(); });

  /* --- What is signed: an <output for="field"> repeats the field as it is typed --- */
  document.addEventListener("input", function (e) {
    var id = e.target.id;
    if (!id) { return; }
    $all("output[for]").forEach(function (out) {
      if (out.htmlFor.contains(id)) { out.textContent = e.target.value.trim() || out.getAttribute("data-empty") || ""; }
    });
  });

  /* --- Plant clock and countdowns, in the plant's time zone --- */
  function tick() {
    $all("[data-plant-clock]").forEach(function (el) {
      try {
        el.textContent = new Intl.DateTimeFormat("en-GB", {
          timeZone: el.getAttribute("data-tz"), hour: "2-digit", minute: "2-digit", second: "2-digit",
          timeZoneName: "short"
        }).format(new Date());
      } catch (err) { /* unknown zone in this browser: keep the server's rendering */ }
    });
    $all("[data-countdown-to]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-countdown-to")) - Date.now()) / 1000);
      if (isNaN(left)) { return; }
      var sign = left < 0 ? "-" : "";
      left = Math.abs(left);
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = sign + m + ":" + (s < 10 ? "0" : "") + s;
      el.classList.toggle("overdue", sign === "-");
    });
  }

  /* --- Idle warning: the server ends the session; this only warns a minute before --- */
  var lastActivity = Date.now();
  function touch() { lastActivity = Date.now(); var w = $("#idle-warning"); if (w) { w.hidden = true; } }
  document.addEventListener("htmx:afterRequest", touch);
  function idleCheck() {
    var body = document.body;
    var limit = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
    if (!limit) { return; }
    var idle = (Date.now() - lastActivity) / 1000;
    var warn = $("#idle-warning");
    if (warn) { warn.hidden = idle < limit - 60; }
    if (idle >= limit) {
      /* Live streams keep requesting in the background, so the browser ends the session
         itself: the server would otherwise see activity where there is none. */
      var logout = $("#logout-form");
      if (logout && !logout.dataset.submitted) { logout.dataset.submitted = "1"; logout.submit(); }
      else if (!logout) { window.location.assign(body.getAttribute("data-login-url") || "/"); }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    openDialogs(document);
    tick();
    var stay = $("#stay-signed-in");
    if (stay) {
      stay.addEventListener("click", function () {
        fetch(stay.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) {
          if (r.ok) { touch(); } else { window.location.reload(); }
        }, function () { setConnection(false); });
      });
    }
    var scan = $("[data-scanner]");
    if (scan) { scan.focus(); }
    setInterval(function () { tick(); idleCheck(); }, 1000);
  });
})();
