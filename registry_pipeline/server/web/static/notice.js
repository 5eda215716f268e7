/* registry-pipeline AI-use notice. Embed with:
 *   <script src="https://REGISTRY/embed/v1/notice.js" data-workload="NAME" async></script>
 * It asks the registry's public endpoint (without cookies) and renders a short notice
 * after the script element, built with DOM calls only. Nothing renders for a workload
 * that is not public or has no approved production stack. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var workload = script.getAttribute("data-workload") || "";
  if (!/^[a-z0-9][a-z0-9._-]{0,127}$/.test(workload)) { return; }
  var base = new URL(script.src, document.baseURI);
  var url = new URL("/embed/v1/workloads/" + encodeURIComponent(workload) + ".json", base);
  fetch(url.href, { credentials: "omit", mode: "cors", referrerPolicy: "no-referrer" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (notice) {
      if (!notice || notice.workload !== workload) { return; }
      var box = document.createElement("aside");
      box.setAttribute("role", "note");
      box.setAttribute("aria-label", "AI system notice");
      box.setAttribute("data-registry-notice", workload);
      box.style.cssText = "border:1px solid #6b7683;border-radius:6px;padding:.6rem .9rem;" +
        "font:14px/1.4 system-ui,sans-serif;color:#1b1f24;background:#f4f6f8;max-width:32rem";
      var lead = document.createElement("strong");
      lead.textContent = "You are talking to an AI system.";
      var body = document.createElement("span");
      var approved = String(notice.approved_at || "").slice(0, 10);
      body.textContent = " " + notice.workload + " runs " + notice.stack + " version " +
        notice.version + ", approved for production on " + approved + ". ";
      var link = document.createElement("a");
      link.href = new URL(notice.card_url, base).href;
      link.textContent = "About this system";
      link.style.color = "#0b57d0";
      box.appendChild(lead);
      box.appendChild(body);
      box.appendChild(link);
      script.parentNode.insertBefore(box, script.nextSibling);
    })
    .catch(function () { /* the page stays as it was */ });
})();
