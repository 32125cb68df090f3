// Live updates for the trace page. The page is complete without this script; with it, the
// page listens to /items/{id}/live (server-sent events) and, when the server says the item's
// history changed, fetches the same page again and swaps in its new <main>.
(function () {
  "use strict";
  var main = document.getElementById("content");
  if (!main || !main.dataset.live || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }

  var status = document.createElement("p");
  status.id = "live-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  status.textContent = "Live: this page updates by itself when new events are anchored.";
  main.parentNode.insertBefore(status, main);

  var source = null;

  function utcNow() {
    return new Date().toISOString().slice(11, 19) + " UTC";
  }

  function listen() {
    if (source) {
      source.close();
    }
    source = new EventSource(main.dataset.live);
    source.addEventListener("anchored", refresh);
  }

  function refresh() {
    source.close();
    var before = Number(main.dataset.events || 0);
    var last = Number(main.dataset.last || 0);
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        if (!fresh) {
          throw new Error("no content in the fetched page");
        }
        main.replaceWith(fresh);
        main = fresh;
        var added = Number(main.dataset.events || 0) - before;
        main.querySelectorAll("li.event").forEach(function (li) {
          if (Number(li.dataset.index) > last) {
            li.classList.add("new");
            // A new event folded with routine ones is opened, so the reader sees it.
            var fold = li.closest("details");
            if (fold) {
              fold.open = true;
            }
          }
        });
        status.textContent = "Updated at " + utcNow() +
          (added > 0 ? ": " + added + " new event" + (added === 1 ? "" : "s") + "." : ".");
        listen();
      })
      .catch(function () {
        status.textContent = "Live updates paused (the server did not answer); retrying.";
        setTimeout(listen, 5000);
      });
  }

  listen();
})();
