// Library: items grid with type filters, search, sort, favorites, archive, upload, download,
// and collections with colours and icons.
import { del, get, patch, post } from "../api.js";
import { alertBox, busy, clear, dialog, field, fmt, h, toast } from "../dom.js";

const TYPES = ["IMAGE", "VIDEO", "FILE", "CODE", "CONVERSATION", "NOTE"];
const BADGES = { IMAGE: "IMG", VIDEO: "VID", FILE: "FILE", CODE: "</>", CONVERSATION: "CHAT", NOTE: "NOTE" };

// Icons are free text: an emoji shows as is, a word (e.g. "briefcase") would only be noise.
function showIcon(icon) {
  return icon && /[^\x00-\x7F]/.test(icon) ? `${icon} ` : "";
}

export async function libraryPage(main) {
  const alert = alertBox();
  const q = { type: "", search: "", sortBy: "newest", favorite: false, archived: false, collectionId: "" };
  const search = h("input", { type: "search", placeholder: "Search", "aria-label": "Search the library" });
  const sort = h("select", { "aria-label": "Sort" }, [["newest", "Newest"], ["oldest", "Oldest"], ["name_asc", "Name A–Z"], ["name_desc", "Name Z–A"], ["size", "Size"]].map(([v, l]) => h("option", { value: v }, l)));
  const fav = h("label", {}, h("input", { type: "checkbox" }), " Favorites");
  const arch = h("label", {}, h("input", { type: "checkbox" }), " Archived");
  const types = h("div", { class: "filters", role: "group", "aria-label": "Type" });
  const upload = h("input", { type: "file", hidden: true, multiple: true });
  const uploadBtn = h("button", { type: "button", class: "primary", onClick: () => upload.click() }, "Upload");
  const noteBtn = h("button", { type: "button", class: "secondary" }, "New note");
  const collections = h("ul", { class: "collections", "aria-label": "Collections" });
  const newCollection = h("button", { type: "button", class: "ghost" }, "+ Collection");
  const grid = h("div", { class: "grid-items" });
  const stats = h("p", { class: "muted" });
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Library"), h("div", { class: "row" }, noteBtn, uploadBtn, upload)),
    alert, stats,
    h("div", { class: "library" },
      h("aside", { class: "lib-side" }, h("h2", {}, "Collections"), collections, newCollection),
      h("section", {}, h("div", { class: "row wrap" }, search, sort, fav, arch), types, grid)));

  function renderTypes() {
    clear(types, ["", ...TYPES].map((t) => h("button", { type: "button", class: `pill${q.type === t ? " on" : ""}`, "aria-pressed": String(q.type === t), onClick: () => { q.type = t; renderTypes(); load(); } }, t ? t.toLowerCase() : "All")));
  }

  async function loadCollections() {
    const { collections: list } = await get("/api/collections");
    clear(collections,
      h("li", {}, h("button", { type: "button", class: `ghost${q.collectionId ? "" : " on"}`, onClick: () => { q.collectionId = ""; loadCollections(); load(); } }, "All items")),
      list.map((c) => h("li", {},
        h("button", { type: "button", class: `ghost${q.collectionId === c.id ? " on" : ""}`, onClick: () => { q.collectionId = c.id; loadCollections(); load(); } },
          h("span", { class: "dot", style: { background: c.color || "#888" }, "aria-hidden": "true" }), ` ${showIcon(c.icon)}${c.name} (${c.itemCount ?? 0})`),
        c.isDefault ? null : h("button", { type: "button", class: "ghost icon", "aria-label": `Delete collection ${c.name}`, onClick: async () => {
          if (!confirm(`Delete collection "${c.name}"? Its items stay in the library.`)) return;
          await busy(null, () => del(`/api/collections/${c.id}`));
          if (q.collectionId === c.id) q.collectionId = "";
          loadCollections();
          load();
        } }, "✕"))));
    return list;
  }

  async function load() {
    alert.hide();
    const params = new URLSearchParams({ sortBy: q.sortBy, limit: "60", page: "1" });
    if (q.type) params.set("type", q.type);
    if (q.search) params.set("search", q.search);
    if (q.favorite) params.set("favorite", "true");
    if (q.archived) params.set("archived", "true");
    if (q.collectionId) params.set("collectionId", q.collectionId);
    try {
      const res = await get(`/api/stuff?${params}`);
      clear(grid, res.items.length ? res.items.map(card) : h("p", { class: "muted" }, "Nothing here yet."));
      const s = await get("/api/stuff/stats");
      stats.textContent = `${fmt.num(s.total)} items · ${fmt.bytes(s.storageUsed)} of ${fmt.bytes(s.storageLimit)} used`;
    } catch (err) {
      alert.show(err.message);
    }
  }

  function card(item) {
    const toggle = (label, key, on) => h("button", { type: "button", class: "ghost icon", "aria-label": label, "aria-pressed": String(!!on), onClick: () => busy(null, async () => { await patch(`/api/stuff/${item.id}`, { [key]: !on }); load(); }) }, label === "Favorite" ? (on ? "★" : "☆") : label);
    const addTo = h("button", { type: "button", class: "ghost icon", "aria-label": "Add to a collection" }, "+ Collection");
    addTo.addEventListener("click", () => addToCollection(item));
    const remove = h("button", { type: "button", class: "ghost danger-text", "aria-label": `Delete ${item.title}`, onClick: () => busy(null, async () => { if (!confirm(`Delete "${item.title}"?`)) return; await del(`/api/stuff/${item.id}`); load(); }) }, "Delete");
    return h("article", { class: "item" },
      h("div", { class: "item-type", "aria-hidden": "true" }, BADGES[item.type] || "FILE"),
      h("h3", {}, item.title || "Untitled"),
      h("p", { class: "muted" }, `${item.type.toLowerCase()} · ${fmt.bytes(item.size)} · ${fmt.date(item.createdAt)}`),
      (item.tags || []).length ? h("p", { class: "tags" }, item.tags.map((t) => h("span", { class: "tag" }, t))) : null,
      h("div", { class: "row" }, toggle("Favorite", "favorite", item.favorite), toggle(item.archived ? "Unarchive" : "Archive", "archived", item.archived), addTo,
        item.url ? h("a", { href: item.url, download: item.title, class: "button ghost" }, "Download") : null, remove));
  }

  async function addToCollection(item) {
    const { collections: list } = await get("/api/collections");
    const dlg = dialog(`Add "${item.title}" to`, h("ul", { class: "plain" }, list.map((c) => h("li", {}, h("button", { type: "button", class: "ghost", onClick: () => busy(null, async () => { await post(`/api/collections/${c.id}/items`, { itemId: item.id }); toast(`Added to ${c.name}`); dlg.close(); loadCollections(); }) }, `${showIcon(c.icon)}${c.name}`)))));
  }

  newCollection.addEventListener("click", () => {
    const a = alertBox();
    const name = field("Name", { required: true, maxlength: 100 });
    const color = field("Colour", { type: "color", value: "#3b82f6" });
    const icon = field("Icon", { maxlength: 40, placeholder: "e.g. briefcase" });
    const submit = h("button", { type: "submit", class: "primary" }, "Create");
    const form = h("form", { class: "stack" }, a, name, color, icon, submit);
    const dlg = dialog("New collection", form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(submit, async () => {
        await post("/api/collections", { name: name.input.value.trim(), color: color.input.value.toUpperCase(), icon: icon.input.value.trim() || null });
        dlg.close();
        loadCollections();
      }, a);
    });
  });

  noteBtn.addEventListener("click", () => {
    const a = alertBox();
    const title = field("Title", { required: true, maxlength: 200 });
    const content = field("Text", { type: "textarea", rows: 6 });
    const tags = field("Tags", {}, "Separated by commas");
    const submit = h("button", { type: "submit", class: "primary" }, "Save note");
    const form = h("form", { class: "stack" }, a, title, content, tags, submit);
    const dlg = dialog("New note", form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(submit, async () => {
        await post("/api/stuff", { type: "NOTE", title: title.input.value.trim(), content: content.input.value, tags: tags.input.value.split(",").map((t) => t.trim()).filter(Boolean) });
        dlg.close();
        load();
      }, a);
    });
  });

  upload.addEventListener("change", () => busy(uploadBtn, async () => {
    for (const f of upload.files) {
      const form = new FormData();
      form.append("file", f);
      await post("/api/stuff/upload", form);
    }
    upload.value = "";
    toast("Uploaded");
    load();
  }, alert));

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { q.search = search.value.trim(); load(); }, 250);
  });
  sort.addEventListener("change", () => { q.sortBy = sort.value; load(); });
  fav.querySelector("input").addEventListener("change", (e) => { q.favorite = e.target.checked; load(); });
  arch.querySelector("input").addEventListener("change", (e) => { q.archived = e.target.checked; load(); });

  renderTypes();
  await loadCollections().catch((e) => alert.show(e.message));
  await load();
  return () => clearTimeout(timer);
}
