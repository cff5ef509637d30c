// A tiny element builder and shared UI bits.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;
// A labelled input; returns the wrapper with `.input` set.
export function field(label, attrs = {}, hint) {
  const id = attrs.id || `f${++fieldSeq}`;
  const input =
    attrs.type === "textarea"
      ? h("textarea", { ...attrs, type: undefined, id })
      : attrs.type === "select"
        ? h("select", { ...attrs, type: undefined, options: undefined, id }, ...(attrs.options || []))
        : h("input", { ...attrs, id });
  const hintEl = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
  wrap.input = input;
  return wrap;
}

export function option(value, label, selected) {
  return h("option", { value, selected: selected || undefined }, label ?? value);
}

export function alertBox() {
  const el = h("div", { class: "alert", role: "alert", hidden: true });
  el.show = (msg, kind = "error") => {
    el.className = `alert ${kind}`;
    el.textContent = msg;
    el.hidden = !msg;
  };
  el.hide = () => {
    el.hidden = true;
  };
  return el;
}

export function toast(msg, kind = "ok") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", "aria-live": "polite" });
    document.body.append(box);
  }
  const t = h("div", { class: `toast ${kind}` }, msg);
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}

// Runs fn while disabling the button; shows errors in `alert` (or a toast).
export async function busy(button, fn, alert) {
  if (button) button.disabled = true;
  try {
    alert?.hide();
    return await fn();
  } catch (err) {
    if (alert) alert.show(err.message);
    else toast(err.message, "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h("textarea", { readonly: true }, text);
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  toast("Copied");
}

export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function dialog(title, ...body) {
  const dlg = h("dialog", { class: "dialog", "aria-label": title });
  const close = h("button", { type: "button", class: "ghost", "aria-label": "Close", onClick: () => dlg.close() }, "✕");
  dlg.append(h("div", { class: "dialog-head" }, h("h2", {}, title), close), ...body);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

export function confirmAction(message) {
  return window.confirm(message);
}

export const fmt = {
  num: (n) => (n ?? 0).toLocaleString(),
  money: (d) => `$${Number(d ?? 0).toFixed(2)}`,
  cents: (c) => `$${((c ?? 0) / 100).toFixed(2)}`,
  date: (s) => (s ? new Date(s).toLocaleDateString() : "—"),
  datetime: (s) => (s ? new Date(s).toLocaleString() : "—"),
  bytes: (b) => {
    b = b || 0;
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) {
      b /= 1024;
      i++;
    }
    return `${b.toFixed(i ? 1 : 0)} ${u[i]}`;
  },
};

// A bar chart of [{label, value}] built from divs (no canvas, no library).
export function barChart(points, { format = fmt.num, label = "Chart" } = {}) {
  const max = Math.max(1, ...points.map((p) => p.value));
  return h(
    "div",
    { class: "chart", role: "img", "aria-label": label },
    points.map((p) =>
      h(
        "div",
        { class: "bar-wrap", title: `${p.label}: ${format(p.value)}` },
        h("div", { class: "bar", style: { height: `${(p.value / max) * 100}%` } }),
      ),
    ),
  );
}
