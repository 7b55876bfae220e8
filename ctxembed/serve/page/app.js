// The ctxembed page: one query, every loaded index's hits side by side; a word's senses in the corpus.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
let key = sessionStorage.getItem("ctxembed-key") || "";
let indexes = [];

async function api(path, options = {}) {
  const headers = Object.assign({"Content-Type": "application/json"}, options.headers || {});
  if (key) headers["Authorization"] = "Bearer " + key;
  const response = await fetch(path, Object.assign({}, options, {headers}));
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { $("key-box").hidden = false; }
  if (!response.ok) {
    const error = body.error || {};
    throw new Error(error.message || ("HTTP " + response.status));
  }
  return body;
}

function element(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function highlighted(text, query) {
  // The snippet with the query's words marked (text nodes only: nothing from the corpus becomes HTML).
  const words = query.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || [];
  const span = element("span", {class: "text"});
  if (!words.length) { span.append(text); return span; }
  const pattern = new RegExp("(" + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")", "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    span.append(text.slice(last, match.index), element("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

function columnsToShow() {
  // Each index in its own mode; an index with BM25 also shows its hybrid column.
  const columns = [];
  for (const index of indexes) {
    columns.push({index: index.name, mode: "dense", label: index.name});
    if (index.modes.includes("hybrid")) columns.push({index: index.name, mode: "hybrid", label: index.name + " + BM25"});
  }
  return columns;
}

async function search(event) {
  if (event) event.preventDefault();
  const query = $("query").value.trim();
  if (!query) return;
  const k = parseInt($("k").value, 10) || 5;
  const out = $("columns");
  out.replaceChildren();
  await Promise.all(columnsToShow().map(async (column) => {
    const box = element("div", {class: "column", "data-index": column.index, "data-mode": column.mode});
    box.append(element("h2", {}, column.label));
    out.append(box);
    try {
      const body = await api("/search", {method: "POST", body: JSON.stringify({index: column.index, query, k, mode: column.mode})});
      box.append(element("div", {class: "meta"}, column.mode + " · " + body.took_ms.toFixed(1) + " ms"));
      const hits = body.results[0].hits;
      if (!hits.length) box.append(element("div", {class: "hit"}, "no hit (no known word in the query)"));
      for (const hit of hits) {
        const head = element("div", {class: "head"}, element("span", {class: "id"}, hit.title || hit.id), element("span", {class: "score"}, hit.score.toFixed(3)));
        const where = hit.passage ? element("div", {class: "passage"}, "best passage, from character " + hit.passage[0]) : "";
        box.append(element("div", {class: "hit"}, head, where, element("div", {class: hit.passage ? "matched" : ""}, highlighted(hit.snippet, query))));
      }
    } catch (error) {
      box.append(element("div", {class: "error"}, error.message));
    }
  }));
}

function scatter(points, labels) {
  const ns = "http://www.w3.org/2000/svg", size = 400, pad = 14;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", size); svg.setAttribute("height", size);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const scale = (v, lo, hi) => pad + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (size - 2 * pad);
  points.forEach((p, i) => {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", scale(p[0], Math.min(...xs), Math.max(...xs)));
    dot.setAttribute("cy", scale(p[1], Math.min(...ys), Math.max(...ys)));
    dot.setAttribute("r", 5);
    dot.setAttribute("fill", COLOURS[labels[i] % COLOURS.length]);
    svg.append(dot);
  });
  return svg;
}

function boldExample(text) {
  // "**word**" marks the word in the example sentence.
  const parts = text.split("**");
  const li = element("li");
  parts.forEach((part, i) => li.append(i % 2 ? element("mark", {}, part) : part));
  return li;
}

async function senses(event) {
  if (event) event.preventDefault();
  const word = $("word").value.trim();
  const out = $("senses-out");
  out.replaceChildren(element("p", {}, "clustering the occurrences of “" + word + "”…"));
  try {
    const body = await api("/senses?word=" + encodeURIComponent(word));
    const left = element("div", {}, scatter(body.points, body.labels),
      element("p", {class: "meta"}, body.occurrences + " occurrences under " + body.model + " (" + body.projection + "), silhouette " + body.silhouette.toFixed(2)));
    const right = element("div");
    body.senses.forEach((sense, i) => {
      const list = element("ul");
      sense.examples.forEach((example) => list.append(boldExample(example)));
      right.append(element("div", {class: "sense"}, element("h3", {style: "color:" + COLOURS[i % COLOURS.length]}, "sense " + (i + 1) + " (" + sense.size + ")"), list));
    });
    const table = element("table", {class: "neighbours"});
    for (const [name, words] of Object.entries(body.neighbours)) {
      table.append(element("tr", {}, element("td", {}, name), element("td", {}, words.join(", ") || "(not in its vocabulary)")));
    }
    right.append(element("h3", {}, "nearest neighbours under each static model (one vector per word)"), table);
    out.replaceChildren(element("div", {class: "senses"}, left, right));
  } catch (error) {
    out.replaceChildren(element("p", {class: "error"}, error.message));
  }
}

async function start() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
      document.querySelectorAll(".panel").forEach((p) => { p.hidden = p.id !== "panel-" + tab.dataset.panel; });
    });
  }
  $("search-form").addEventListener("submit", search);
  $("senses-form").addEventListener("submit", senses);
  $("key-save").addEventListener("click", () => { key = $("key").value; sessionStorage.setItem("ctxembed-key", key); $("key-box").hidden = true; load(); });
  await load();
}

async function load() {
  try {
    const body = await api("/indexes");
    indexes = body.indexes;
    $("status").textContent = body.ready ? indexes.length + " indexes ready" : "loading indexes…";
    document.body.dataset.ready = String(body.ready);
    if (!body.ready) setTimeout(load, 1000);
  } catch (error) {
    $("status").textContent = error.message;
  }
}

start();
