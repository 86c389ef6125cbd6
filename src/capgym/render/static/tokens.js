/* capgym token views: one tooltip for every view on the page (see capgym.render.tokens).
   Data comes from each view's <script type="application/json" class="cg-data">, so views
   inserted later (innerHTML) work too. Text is always set with textContent. */
(function () {
  if (window.__capgymTokens) return;
  window.__capgymTokens = true;
  var cache = new WeakMap(), tip = null, pinned = null;
  function data(view) {
    var d = cache.get(view);
    if (!d) {
      var s = view.querySelector("script.cg-data");
      d = s ? JSON.parse(s.textContent) : { mode: "single", items: [] };
      cache.set(view, d);
    }
    return d;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function f(x, n) { return x === null || x === undefined ? "–" : Number(x).toFixed(n); }
  function p(lp) { return lp === null || lp === undefined ? "–" : Math.exp(lp).toFixed(3); }
  function piece(s) { return JSON.stringify(s); }
  function topk(item) {
    var t = el("table"), best = item.k && item.k.length ? Math.exp(item.k[0][1]) : 1;
    (item.k || []).forEach(function (kv) {
      var tr = el("tr", kv[0] === item.p ? "cg-k-act" : ""), bar = el("span", "cg-bar");
      bar.style.width = (4 * Math.exp(kv[1]) / Math.max(best, 1e-9)).toFixed(2) + "em";
      var c = el("td"); c.appendChild(el("code", "", piece(kv[0]))); tr.appendChild(c);
      tr.appendChild(el("td", "", p(kv[1])));
      var b = el("td"); b.appendChild(bar); tr.appendChild(b);
      t.appendChild(tr);
    });
    return t;
  }
  function single(item, name) {
    var box = el("div"), h = el("div");
    if (name) h.appendChild(el("div", "cg-sub", name));
    h.appendChild(el("code", "", piece(item.p)));
    h.appendChild(el("span", "cg-sub", " pos " + item.i + (item.id !== undefined ? " · id " + item.id : "")));
    box.appendChild(h);
    box.appendChild(el("div", "cg-stats",
      "p " + p(item.l) + " · logp " + f(item.l, 3) + " · rank " + (item.r === null || item.r === undefined ? "–" : item.r) +
      " · entropy " + f(item.e, 2) + (item.c ? " · ctx " + item.c : "")));
    if (item.k && item.k.length) { box.appendChild(el("div", "cg-sub", "top-k")); box.appendChild(topk(item)); }
    return box;
  }
  function tags(g, box) {
    (g || []).forEach(function (t) { box.appendChild(el("div", "cg-sub", "◆ " + t[0] + (t[1] ? " " + t[1] : ""))); });
  }
  function body(d, item) {
    if (d.mode !== "diff") { var b = single(item, d.models && d.models[0]); tags(item.g, b); return b; }
    var box = el("div"), m = d.models || ["A", "B"];
    box.appendChild(el("code", "", piece(item.t)));
    box.appendChild(el("div", "cg-stats", m[0] + " → " + m[1] + ": p " + p(item.la) + " → " + p(item.lb) +
      " (Δlogp " + (item.lb - item.la >= 0 ? "+" : "") + f(item.lb - item.la, 3) + ")"));
    var cols = el("div", "cg-cols");
    [[item.a, m[0]], [item.b, m[1]]].forEach(function (side) {
      var col = el("div");
      if (side[0].length === 1) col.appendChild(single(side[0][0], side[1]));
      else {
        col.appendChild(el("div", "cg-sub", side[1] + ": " + side[0].length + " tokens"));
        side[0].forEach(function (t) { col.appendChild(el("div", "", piece(t.p) + "  p " + p(t.l) + "  rank " + t.r)); });
      }
      cols.appendChild(col);
    });
    box.appendChild(cols);
    tags(item.g, box);
    return box;
  }
  function place(t) {
    var r = t.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    var x = Math.min(Math.max(4, r.left), window.innerWidth - w - 8);
    var y = r.bottom + 6;
    if (y + h > window.innerHeight - 4) y = Math.max(4, r.top - h - 6);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function show(t) {
    var view = t.closest(".cg-view"), d = data(view), item = d.items[+t.dataset.i];
    if (!item) return;
    if (!tip) { tip = el("div", "cg-tip"); tip.setAttribute("role", "tooltip"); document.body.appendChild(tip); }
    tip.replaceChildren(body(d, item));
    tip.style.display = "block";
    place(t);
  }
  function hide() { if (tip) tip.style.display = "none"; }
  function unpin() { if (pinned) pinned.classList.remove("cg-pin"); pinned = null; hide(); }
  function tok(e) { return e.target && e.target.closest ? e.target.closest(".cg-view .cg-t") : null; }
  document.addEventListener("mouseover", function (e) { var t = tok(e); if (t && !pinned) show(t); });
  document.addEventListener("mouseout", function (e) { var t = tok(e); if (t && !pinned) hide(); });
  document.addEventListener("click", function (e) {
    var t = tok(e);
    if (t) { var again = pinned === t; unpin(); if (!again) { pinned = t; t.classList.add("cg-pin"); show(t); } }
    else if (!(e.target.closest && e.target.closest(".cg-tip"))) unpin();
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") unpin(); });
})();
