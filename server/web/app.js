// crd web page: upload images, show verdicts and heat maps, and a live view
// of every client's predictions. Plain JavaScript, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("crd-token") || "";
let models = [];
let lastID = 0;

async function api(path, opts = {}) {
  opts.headers = Object.assign({}, opts.headers, token ? { Authorization: "Bearer " + token } : {});
  let res = await fetch(path, opts);
  if (res.status === 401) {
    const t = prompt("This server needs a bearer token:");
    if (t) {
      token = t.trim();
      localStorage.setItem("crd-token", token);
      opts.headers.Authorization = "Bearer " + token;
      res = await fetch(path, opts);
    }
  }
  let body;
  try { body = await res.json(); } catch (e) { body = { error: res.statusText }; }
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

const fmt = (v, d = 3) => (typeof v === "number" ? v.toFixed(d) : "-");

function showModel() {
  const m = models.find((m) => m.name === $("model").value) || models[0];
  const dl = $("model-info");
  dl.replaceChildren();
  if (!m) return;
  const rows = [
    ["name", m.name], ["method", m.method], ["backbone", m.backbone + " " + (m.layers || []).join("+")],
    ["input", m.input_size + " px"], ["training images", m.train_images],
    ["threshold", m.calibrated ? fmt(m.threshold, 5) + " (" + m.threshold_rule + ", " + m.held_out_images + " held-out)" : "none"],
    ["trained", m.created || "-"], ["loaded", new Date(m.loaded_at).toLocaleString()], ["checksum", m.checksum.slice(0, 16) + "…"],
  ];
  for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
}

function predictURL() {
  const name = $("model").value;
  return (models.length > 1 ? "/v1/models/" + encodeURIComponent(name) + "/predict" : "/v1/predict") + "?heatmap=1";
}

function applyOpacity() {
  const o = $("opacity").value / 100;
  for (const h of document.querySelectorAll("img.heatmap")) h.style.opacity = o;
}

async function score(file) {
  const card = el("div", { class: "result", "data-verdict": "pending" });
  const view = el("div", { class: "view" });
  const src = URL.createObjectURL(file);
  view.append(el("img", { class: "photo", src, alt: file.name }));
  const body = el("div", { class: "body" }, el("span", { class: "verdict", text: "scoring…" }), " ", el("b", { text: file.name }));
  card.append(view, body);
  $("results").prepend(card);
  const form = new FormData();
  form.append("image", file);
  try {
    const p = await api(predictURL(), { method: "POST", body: form });
    card.dataset.verdict = p.label;
    body.querySelector(".verdict").textContent = p.label;
    const hm = el("img", { class: "heatmap", src: p.heatmap, alt: "heat map of " + file.name });
    view.append(hm);
    applyOpacity();
    const bar = el("div", { class: "bar", title: "normalised score; the threshold is the mark" },
      el("div", { class: "fill" }), el("div", { class: "mark" }));
    bar.firstChild.style.width = Math.min(100, p.normalized * 100) + "%";
    const meta = el("div", { class: "meta" },
      "score " + fmt(p.score, 5) + " vs threshold " + fmt(p.threshold, 5) + " · normalised " + fmt(p.normalized) +
      " · " + fmt(p.latency_ms, 1) + " ms · ",
      el("a", { href: p.heatmap, download: file.name.replace(/\.[^.]+$/, "") + "_heatmap.png", text: "download heat map" }));
    body.append(bar, meta);
  } catch (e) {
    card.dataset.verdict = "error";
    body.querySelector(".verdict").textContent = "error";
    body.append(el("div", { class: "meta", text: e.message }));
  }
}

async function poll() {
  try {
    const r = await api("/v1/recent?after=" + lastID);
    if (JSON.stringify(r.models.map((m) => m.checksum)) !== JSON.stringify(models.map((m) => m.checksum))) {
      const keep = $("model").value;
      models = r.models;
      $("model").replaceChildren(...models.map((m) => el("option", { value: m.name, text: m.name })));
      if (keep) $("model").value = keep;
      $("model").parentElement.hidden = models.length < 2;
      showModel();
    }
    const s = r.stats;
    $("st-count").textContent = s.predictions;
    $("st-rate").textContent = (100 * s.defect_rate).toFixed(1) + "%";
    $("st-p50").textContent = s.predictions ? fmt(s.p50_ms, 0) : "-";
    $("st-p95").textContent = s.predictions ? fmt(s.p95_ms, 0) : "-";
    $("st-p99").textContent = s.predictions ? fmt(s.p99_ms, 0) : "-";
    for (const p of r.predictions) {
      lastID = Math.max(lastID, p.id);
      const li = el("li", { class: "live-item", "data-verdict": p.label },
        el("img", { src: p.thumbnail, alt: "" }),
        el("div", {}, el("span", { class: "verdict", text: p.label }), " " + fmt(p.normalized) + " · " + p.model.name,
          el("div", { class: "meta", text: new Date(p.time).toLocaleTimeString() + " · " + fmt(p.latency_ms, 1) + " ms" })));
      $("live").prepend(li);
    }
    while ($("live").children.length > 60) $("live").lastChild.remove();
  } catch (e) {
    console.warn("live view:", e.message);
  }
  setTimeout(poll, 2000);
}

function init() {
  const drop = $("drop");
  const take = (files) => { for (const f of files) score(f); };
  $("files").addEventListener("change", (e) => { take(e.target.files); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); take(e.dataTransfer.files); });
  $("opacity").addEventListener("input", applyOpacity);
  $("model").addEventListener("change", showModel);
  poll();
}

init();
