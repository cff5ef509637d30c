// The canvas pane: the session's document, saved with its version, and its snapshots.
import { get, post, put } from "../api.js";
import { alertBox, busy, clear, field, fmt, h } from "../dom.js";

export function canvasPane() {
  let sessionId = null;
  let version = null;
  const alert = alertBox();
  const title = field("Title", { maxlength: 200 });
  const content = field("Document", { type: "textarea", rows: 14 });
  const save = h("button", { type: "button", class: "primary" }, "Save");
  const snap = h("button", { type: "button", class: "secondary" }, "Save version");
  const versions = h("ul", { class: "versions", "aria-label": "Versions" });
  const status = h("small", { class: "muted", role: "status" });
  const el = h("aside", { class: "canvas-pane", "aria-label": "Canvas" },
    h("h2", {}, "Canvas"), alert, title, content, h("div", { class: "row" }, save, snap, status), h("h3", {}, "Versions"), versions);

  function show(doc, list) {
    version = doc?.version ?? null;
    title.input.value = doc?.title || "";
    content.input.value = doc?.content || "";
    status.textContent = doc ? `Version ${doc.version} · saved ${fmt.datetime(doc.updatedAt)}` : "Not saved yet";
    if (list) renderVersions(list);
  }

  function renderVersions(list) {
    clear(versions, list.length ? list.map((v) => h("li", {},
      h("span", {}, `v${v.version} · ${v.title || "Untitled"} · ${fmt.datetime(v.createdAt)}`),
      h("button", { type: "button", class: "ghost", onClick: () => {
        title.input.value = v.title || "";
        content.input.value = v.content || "";
        status.textContent = `Restored version ${v.version}: save to keep it`;
        content.input.focus();
      } }, "Restore"))) : h("li", { class: "muted" }, "No versions yet."));
  }

  async function open() {
    alert.hide();
    if (!sessionId) {
      show(null, []);
      alert.show("Send a first message to start a chat; its canvas opens here.", "info");
      return;
    }
    // Nothing typed while the document loads may be overwritten by it.
    const inputs = [title.input, content.input, save, snap];
    for (const el of inputs) el.disabled = true;
    try {
      const res = await get(`/api/canvas/${sessionId}`);
      show(res.document, res.versions || []);
    } catch (err) {
      alert.show(err.message);
    } finally {
      for (const el of inputs) el.disabled = false;
    }
  }

  async function doSave() {
    const body = { title: title.input.value, content: content.input.value };
    if (version !== null) body.version = version;
    try {
      const doc = await put(`/api/canvas/${sessionId}`, body);
      show(doc.document || doc);
    } catch (err) {
      if (err.status === 409) {
        alert.show(`Someone saved version ${err.body.currentVersion} meanwhile; it is loaded now. Your text was kept below.`);
        const mine = content.input.value;
        show(err.body.document);
        content.input.value = mine;
        return;
      }
      throw err;
    }
  }

  save.addEventListener("click", () => sessionId && busy(save, doSave, alert));
  snap.addEventListener("click", () => sessionId && busy(snap, async () => {
    await doSave();
    await post(`/api/canvas/${sessionId}/versions`);
    renderVersions((await get(`/api/canvas/${sessionId}/versions`)).versions || []);
  }, alert));

  return {
    el,
    open,
    setSession(id) {
      sessionId = id;
      if (!el.hidden) open();
    },
  };
}
