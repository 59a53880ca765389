// Hoop: the little behaviour pages need beyond htmx. Countdowns tick; scanned codes clear.
(function () {
  function fmt(secs) {
    if (secs <= 0) return "overdue";
    var d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600),
        m = Math.floor(secs % 3600 / 60), s = secs % 60;
    if (d) return d + "d " + h + "h left";
    if (h) return h + "h " + m + "m left";
    if (m) return m + "m " + s + "s left";
    return s + "s left";
  }
  function tick() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var secs = Math.floor((Date.parse(el.dataset.deadline) - Date.now()) / 1000);
      el.textContent = fmt(secs);
      el.classList.toggle("overdue", secs <= 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", tick);
  // the scan box: after a code is added as a line, clear it for the next scan
  document.addEventListener("htmx:afterRequest", function (e) {
    var el = e.detail.elt;
    if (el && el.matches && el.matches("[data-scan]") && e.detail.successful) { el.value = ""; el.focus(); }
  });
  // a header checkbox selects or clears every row checkbox of its name
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches || !el.matches("[data-select-all]")) return;
    el.form.querySelectorAll('input[type=checkbox][name="' + el.dataset.selectAll + '"]')
      .forEach(function (box) { box.checked = el.checked; });
  });
})();
