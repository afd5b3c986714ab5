// The example frontend: one static page on its own origin, calling trackr's backends directly
// through @trackr/client (./client is the client's built `dist/`).
import {
  AllBackendsUnavailable,
  ApiError,
  TrackrClient,
} from "./client/index.js";

const $ = (selector) => document.querySelector(selector);
const settings = loadSettings();
const api = new TrackrClient({
  backends: settings.backends,
  timeoutMs: settings.timeoutMs,
  ...(settings.token ? { token: settings.token } : {}),
});
let categories = [];

// Settings: the query string (?backends=a,b,c&token=…&timeoutMs=…) wins, then localStorage.
function loadSettings() {
  const query = new URLSearchParams(location.search);
  const saved = JSON.parse(localStorage.getItem("trackr-settings") ?? "{}");
  const backends = query.get("backends")?.split(",") ?? saved.backends ?? [];
  return {
    backends: backends.length ? backends : ["http://127.0.0.1:8000"],
    token: query.get("token") ?? saved.token ?? "",
    timeoutMs: Number(query.get("timeoutMs") ?? saved.timeoutMs ?? 3000),
  };
}

function showSettings() {
  const form = $("#settings-form");
  form.backends.value = settings.backends.join("\n");
  form.token.value = settings.token;
  form.timeoutMs.value = settings.timeoutMs;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const saved = {
      backends: form.backends.value.split(/\s+/).filter(Boolean),
      token: form.token.value.trim(),
      timeoutMs: Number(form.timeoutMs.value) || 3000,
    };
    localStorage.setItem("trackr-settings", JSON.stringify(saved));
    location.search = "";
  });
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes))
    node.setAttribute(name, value);
  return node;
}

const STATE_LABELS = {
  closed: "up",
  open: "skipped (failed)",
  half_open: "retrying",
};

function showBackends() {
  const served = api.lastServed;
  $("#backends").replaceChildren(
    ...api.policy.backends.map((backend) => {
      const state = backend.breaker.state;
      const chip = element("li", `${backend.url} · ${STATE_LABELS[state]}`, {
        "data-state": state,
        title: backend.breaker.lastError ?? "no recent failure",
      });
      if (served?.backend === backend.url)
        chip.setAttribute("data-serving", "");
      return chip;
    }),
  );
  if (served) {
    $("#served-by").textContent =
      `served by ${served.backend} (database: ${served.node ?? "?"})`;
    $("#served-by").dataset.backend = served.backend;
  }
}

function showError(error) {
  const box = $("#error");
  if (error === null) {
    box.hidden = true;
    return;
  }
  if (error instanceof ApiError) {
    const fields = (error.problem.errors ?? []).map(
      (e) => `${e.pointer ?? e.parameter}: ${e.detail}`,
    );
    box.textContent = [
      `${error.status} ${error.problem.title}: ${error.problem.detail ?? ""}`,
      ...fields,
    ].join(" · ");
  } else if (error instanceof AllBackendsUnavailable) {
    box.textContent = `No backend answered: ${Object.entries(error.errors)
      .map(([b, e]) => `${b}: ${e}`)
      .join("; ")}`;
  } else {
    box.textContent = String(error);
  }
  box.hidden = false;
}

// Every call goes through here: errors shown, backend chips and "served by" kept current.
async function call(action) {
  try {
    const result = await action();
    showError(null);
    return result;
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    showBackends();
  }
}

const money = (value, currency) =>
  new Intl.NumberFormat("en-US", { style: "currency", currency }).format(value);

async function showProducts() {
  const category = $("#category").value || undefined;
  const q = $("#search").value.trim() || undefined;
  const page = await call(() => api.listProducts({ category, q, limit: 50 }));
  if (!page) return;
  $("#products").replaceChildren(
    ...page.items.map((product) => {
      const row = element("tr", undefined, {
        "data-id": product.id,
        "data-category": product.category,
      });
      row.append(
        element("td", String(product.id)),
        element("td", product.name),
        element("td", product.category),
        element("td", money(product.price, product.currency), { class: "num" }),
        element("td", product.in_stock ? "in stock" : "sold out"),
      );
      row.addEventListener("click", () => showHistory(product, row));
      return row;
    }),
  );
}

async function showHistory(product, row) {
  for (const selected of document.querySelectorAll(
    'tr[aria-selected="true"]',
  )) {
    selected.removeAttribute("aria-selected");
  }
  row?.setAttribute("aria-selected", "true");
  const history = await call(() => api.priceHistory(product.id, 30));
  if (!history) return;
  $("#history").hidden = false;
  $("#history-name").textContent = product.name;
  const points = [...history.items].reverse(); // oldest first
  $("#history-points").replaceChildren(
    ...history.items.map((point) =>
      element(
        "li",
        `${money(point.price, point.currency)} · ${new Date(point.observed_at).toLocaleString()}`,
      ),
    ),
  );
  const prices = points.map((point) => point.price);
  const [low, high] = [Math.min(...prices), Math.max(...prices)];
  const x = (i) =>
    points.length === 1 ? 150 : (i / (points.length - 1)) * 300;
  const y = (price) =>
    high === low ? 40 : 75 - ((price - low) / (high - low)) * 70;
  const line = document.createElementNS(
    "http://www.w3.org/2000/svg",
    "polyline",
  );
  line.setAttribute(
    "points",
    prices.map((price, i) => `${x(i)},${y(price)}`).join(" "),
  );
  $("#history-chart").replaceChildren(line);
}

// An example attributes object for a category, from its JSON schema (required fields first).
function exampleAttributes(name) {
  const schema =
    categories.find((category) => category.name === name)?.attributes_schema ??
    {};
  const example = {};
  for (const field of schema.required ?? []) {
    const property = schema.properties?.[field] ?? {};
    example[field] =
      property.examples?.[0] ??
      property.default ??
      (property.type === "integer" ? 0 : "");
  }
  return JSON.stringify(example, null, 2);
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  let attributes;
  try {
    attributes = JSON.parse(form.attributes.value || "{}");
  } catch (error) {
    showError(`Attributes are not JSON: ${error.message}`);
    return;
  }
  const body = {
    category: form.category.value,
    name: form.name.value,
    price: Number(form.price.value),
    attributes,
  };
  const created = await call(() => api.createProduct(body));
  if (!created) return;
  // Read it straight back: the client sends the write's consistency token with the read, so
  // whichever backend and replica answer, they have the new product.
  const readBack = await call(() => api.getProduct(created.id));
  if (!readBack) return;
  $("#created").textContent =
    `Created #${readBack.id} “${readBack.name}”; read back from ${api.lastServed.backend} ` +
    `(database: ${api.lastServed.node}) with token ${api.consistencyToken}`;
  $("#created").dataset.id = String(readBack.id);
  await showProducts();
}

async function start() {
  showSettings();
  showBackends();
  categories = (await call(() => api.categories())) ?? [];
  const options = categories.map((category) =>
    element("option", category.title, { value: category.name }),
  );
  $("#category").replaceChildren(
    element("option", "All categories", { value: "" }),
    ...options,
  );
  $("#create").category.replaceChildren(
    ...options.map((option) => option.cloneNode(true)),
  );
  $("#create").attributes.value = exampleAttributes(
    $("#create").category.value,
  );
  $("#create").category.addEventListener("change", (event) => {
    $("#create").attributes.value = exampleAttributes(event.target.value);
  });
  $("#category").addEventListener("change", showProducts);
  $("#search").addEventListener("input", showProducts);
  $("#create").addEventListener("submit", create);
  await showProducts();
  document.body.dataset.ready = "true";
}

start();
