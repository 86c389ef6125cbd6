/* capgym explorer: filters -> JSON API -> table; a row -> its story as a token view.
   All data goes into the page with textContent; only /api/story's token-view HTML
   (rendered and escaped by the server) is inserted as HTML. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var FIELDS = ["model", "compare", "corpus", "capability", "explainer", "pmin", "pmax", "correct",
    "token", "residue", "q", "sort", "order", "page_size", "overlay"];
  var POS_ONLY = ["capability", "explainer", "pmin", "pmax", "correct", "token", "residue"];
  var SORTS = {
    positions: [["pos", "position"], ["prob", "probability"], ["logprob", "log-probability"], ["rank", "rank"],
      ["entropy", "entropy"], ["diff", "Δ log-prob (compare − model)"], ["absdiff", "|Δ log-prob|"]],
    stories: [["story", "story"], ["nll", "NLL per char"], ["diff", "Δ NLL per char (model − compare)"]]
  };
  var state = { mode: "positions", page: 0, total: 0 }, seq = 0, timer = null, oneCorpus = false;
  function storyLabel(r) { return oneCorpus ? String(r.story) : r.corpus + " " + r.story; }

  function api(path, params) {
    return fetch(path + "?" + new URLSearchParams(params).toString()).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; });
    });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function opt(sel, value, label) { var o = el("option", label === undefined ? value : label); o.value = value; sel.appendChild(o); }
  function showError(msg) { var e = $("error"); e.textContent = msg || ""; e.hidden = !msg; }
  function fmt(x, n) { return x === null || x === undefined ? "–" : Number(x).toFixed(n); }
  function vis(s) { return String(s).replace(/\n/g, "↵"); }

  function params() {
    var p = {};
    FIELDS.forEach(function (f) {
      var e = $("f-" + f);
      if (e.type === "checkbox") { if (e.checked) p[f] = "1"; } else if (e.value !== "") p[f] = e.value;
    });
    if (state.mode === "stories") POS_ONLY.forEach(function (k) { delete p[k]; });
    if (p.pmin === "0") delete p.pmin;
    if (p.pmax === "1") delete p.pmax;
    if (p.correct === "any") delete p.correct;
    delete p.overlay;  // a display choice, not a filter
    p.page = String(state.page);
    return p;
  }
  function setSorts() {
    var s = $("f-sort"), cur = s.value, cmp = $("f-compare").value;
    s.replaceChildren();
    SORTS[state.mode].forEach(function (x) { if (x[0].indexOf("diff") < 0 || cmp) opt(s, x[0], x[1]); });
    if ([].some.call(s.options, function (o) { return o.value === cur; })) s.value = cur;
  }
  function saveHash() {
    var p = params(); p.mode = state.mode;
    if ($("f-overlay").value) p.overlay = $("f-overlay").value;
    history.replaceState(null, "", "#" + new URLSearchParams(p).toString());
  }
  function loadHash() {
    var h = new URLSearchParams(location.hash.slice(1));
    state.mode = h.get("mode") === "stories" ? "stories" : "positions";
    state.page = Math.max(0, parseInt(h.get("page") || "0", 10) || 0);
    FIELDS.forEach(function (f) {
      var e = $("f-" + f);
      if (!h.has(f)) return;
      if (e.type === "checkbox") e.checked = h.get(f) === "1"; else e.value = h.get(f);
    });
  }
  function setMode(mode) {
    state.mode = mode;
    document.body.classList.toggle("stories", mode === "stories");
    $("tab-positions").classList.toggle("on", mode === "positions");
    $("tab-stories").classList.toggle("on", mode === "stories");
    $("context").replaceChildren(el("p", "Click a row to open it in context.", "hint"));
    setSorts();
  }

  function head(cols) {
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", c)); });
    $("results").tHead.replaceChildren(tr);
  }
  function num(tr, x, n, cls) { tr.appendChild(el("td", fmt(x, n), "num" + (cls ? " " + cls : ""))); }
  function probCell(tr, p) {
    var td = el("td", null, "num"), bar = el("span", null, "pbar");
    bar.style.width = (36 * p).toFixed(1) + "px";  // the bar is p itself, 0..1
    bar.style.marginRight = (4 + 36 * (1 - p)).toFixed(1) + "px";  // numbers stay aligned
    bar.title = "p = " + fmt(p, 4);
    td.appendChild(bar); td.appendChild(document.createTextNode(fmt(p, 3)));
    tr.appendChild(td);
  }
  function renderPositions(j, cmp) {
    var cols = ["story", "pos", "token in context", "p", "rank", "entropy"];
    if (cmp) cols = cols.concat(["p " + cmp, "Δ logp (" + cmp + " better +)"]);
    head(cols.concat(["capabilities"]));
    var body = $("results").tBodies[0];
    body.replaceChildren();
    j.rows.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.corpus = r.corpus; tr.dataset.story = r.story; tr.dataset.pos = r.pos;
      tr.appendChild(el("td", storyLabel(r)));
      num(tr, r.pos, 0);
      var ctx = el("td", null, "ctx");
      ctx.appendChild(document.createTextNode("…" + vis(r.before)));
      ctx.appendChild(el("b", vis(r.token)));
      ctx.appendChild(document.createTextNode(vis(r.after) + "…"));
      tr.appendChild(ctx);
      probCell(tr, r.prob);
      num(tr, r.rank, 0); num(tr, r.entropy, 2);
      if (cmp) { probCell(tr, r.prob_b); num(tr, r.diff, 3, r.diff > 0 ? "pos" : "neg"); }
      tr.appendChild(el("td", (r.capabilities || []).join(", "), "caps"));
      body.appendChild(tr);
    });
  }
  function renderStories(j, cmp) {
    var cols = ["story", "tokens", "NLL/token", "NLL/char"];
    if (cmp) cols = cols.concat(["NLL/char " + cmp, "gain of " + cmp]);
    head(cols.concat(["beginning"]));
    var body = $("results").tBodies[0];
    body.replaceChildren();
    j.rows.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.corpus = r.corpus; tr.dataset.story = r.story;
      tr.appendChild(el("td", storyLabel(r)));
      num(tr, r.n_tokens, 0); num(tr, r.nll_per_token, 3); num(tr, r.nll_per_char, 3);
      if (cmp) { num(tr, r.nll_per_char_b, 3); num(tr, r.diff, 4, r.diff > 0 ? "pos" : "neg"); }
      tr.appendChild(el("td", vis(r.start) + "…", "ctx"));
      body.appendChild(tr);
    });
  }
  function refresh() {
    saveHash();
    var my = ++seq, p = params(), cmp = p.compare && p.compare !== p.model ? p.compare : "";
    $("count").textContent = "loading…";
    api("/api/" + state.mode, p).then(function (j) {
      if (my !== seq) return;
      showError("");
      state.total = j.total;
      var pages = Math.max(1, Math.ceil(j.total / j.page_size));
      $("count").textContent = j.total.toLocaleString() + (state.mode === "positions" ? " positions" : " stories");
      $("pageinfo").textContent = "page " + (j.page + 1) + " of " + pages;
      $("prev").disabled = j.page <= 0;
      $("next").disabled = j.page + 1 >= pages;
      (state.mode === "positions" ? renderPositions : renderStories)(j, cmp);
    }).catch(function (e) { if (my === seq) { showError(e.message); $("count").textContent = ""; } });
  }
  function openRow(tr) {
    [].forEach.call(document.querySelectorAll("#results tr.sel"), function (x) { x.classList.remove("sel"); });
    tr.classList.add("sel");
    var p = { corpus: tr.dataset.corpus, story: tr.dataset.story, model: $("f-model").value };
    if ($("f-compare").value && $("f-compare").value !== p.model) p.compare = $("f-compare").value;
    if (tr.dataset.pos) p.pos = tr.dataset.pos;
    p.tags = $("f-overlay").value || (state.mode === "positions" && $("f-capability").value) || "none";
    api("/api/story", p).then(function (j) {
      var box = $("context");
      box.replaceChildren(el("h2", j.corpus + " · story " + j.story + (p.pos ? " · pos " + p.pos : "")));
      var holder = el("div");
      holder.innerHTML = j.html;  // server-rendered token view, text escaped there
      box.appendChild(holder);
      var hl = box.querySelector(".cg-hl");
      if (hl) hl.scrollIntoView({ block: "nearest" });
      showError("");
    }).catch(function (e) { showError(e.message); });
  }
  function changed() { state.page = 0; refresh(); }

  function init(meta) {
    oneCorpus = meta.corpora.length === 1;
    $("run").textContent = meta.run + (meta.cached ? "" : " (uncached)") + (oneCorpus ? " · corpus " + meta.corpora[0] : "");
    meta.models.forEach(function (m) { opt($("f-model"), m); opt($("f-compare"), m); });
    meta.corpora.forEach(function (c) { opt($("f-corpus"), c); });
    meta.capabilities.forEach(function (c) { opt($("f-capability"), c); opt($("f-overlay"), c); });
    meta.explainers.forEach(function (c) { opt($("f-explainer"), c); });
    setSorts();
    loadHash();
    setMode(state.mode);
    loadHash();  // the sort options depend on compare and mode
    FIELDS.forEach(function (f) {
      var e = $("f-" + f);
      var text = e.type === "search" || e.type === "number";
      e.addEventListener(text ? "input" : "change", function () {
        if (f === "compare") setSorts();
        if (f === "overlay") { saveHash(); var sel = document.querySelector("#results tr.sel"); if (sel) openRow(sel); return; }
        if (!text) { changed(); return; }
        clearTimeout(timer); timer = setTimeout(changed, 300);
      });
    });
    [].forEach.call(document.querySelectorAll(".tab"), function (b) {
      b.addEventListener("click", function () { setMode(b.dataset.mode); changed(); });
    });
    $("prev").addEventListener("click", function () { state.page = Math.max(0, state.page - 1); refresh(); });
    $("next").addEventListener("click", function () { state.page += 1; refresh(); });
    $("clear-filters").addEventListener("click", function () { $("filters").reset(); $("f-model").selectedIndex = 0; setSorts(); changed(); });
    $("results").tBodies[0].addEventListener("click", function (e) {
      var tr = e.target.closest("tr");
      if (tr) openRow(tr);
    });
    window.addEventListener("hashchange", function () {  // a pasted or edited link
      loadHash(); setMode(state.mode); loadHash(); refresh();
    });
    refresh();
  }
  function gym(j) {
    if (!j.rows.length) return;
    var tasks = [], byKey = {}, models = j.models.filter(function (m) { return j.rows.some(function (r) { return r.model === m; }); });
    j.rows.forEach(function (r) { if (tasks.indexOf(r.task) < 0) tasks.push(r.task); byKey[r.task + "\u0000" + r.model] = r; });
    var head = el("tr");
    ["task", "metric", "chance"].concat(models).forEach(function (h) { head.appendChild(el("th", h)); });
    $("gym-table").tHead.replaceChildren(head);
    var body = $("gym-table").tBodies[0];
    body.replaceChildren();
    tasks.forEach(function (t) {
      var first = j.rows.filter(function (r) { return r.task === t; })[0];
      var tr = el("tr");
      tr.appendChild(el("td", t + (first.solved_by_heuristic === 1 ? " †" : "")));
      tr.appendChild(el("td", first.metric));
      tr.appendChild(el("td", fmt(first.chance, 2)));
      models.forEach(function (m) {
        var r = byKey[t + "\u0000" + m], td = el("td", "", "num");
        if (r) {
          var above = r.lo > (r.chance === null ? 0.5 : r.chance);
          td.appendChild(el("b", fmt(r.score, 2), above ? "above" : "at-chance"));
          td.appendChild(el("span", " [" + fmt(r.lo, 2) + ", " + fmt(r.hi, 2) + "]", "hint"));
          td.appendChild(el("div", r.mean_ld === null ? "" : "Δlogit " + (r.mean_ld >= 0 ? "+" : "") + fmt(r.mean_ld, 2), "hint"));
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("gym").hidden = false;
  }
  api("/api/meta", {}).then(init).catch(function (e) { showError(e.message); });
  api("/api/gym", {}).then(gym).catch(function () {});
})();
