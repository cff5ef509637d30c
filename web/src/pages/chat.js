// Chat: sessions sidebar, model picker, streamed Markdown answers, attachments, ratings, canvas.
import { ApiError, del, get, patch, post, streamCompletion } from "../api.js";
import { busy, clear, copyText, fmt, h, toast } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { canvasPane } from "./canvas.js";

export async function chatPage(main, { navigate, rest }) {
  main.classList.add("chat-main");
  const st = {
    sessions: [],
    session: null,
    messages: [],
    models: [],
    model: localStorage.getItem("llmportal.model") || "",
    pending: [], // attachments uploaded for the next message
    controller: null,
    filter: "",
  };

  const search = h("input", { type: "search", placeholder: "Search chats", "aria-label": "Search chats by title" });
  const list = h("ul", { class: "session-list", "aria-label": "Chats" });
  const newBtn = h("button", { type: "button", class: "primary", onClick: () => navigate("/chat") }, "+ New chat");
  const sidebar = h("aside", { class: "sidebar", "aria-label": "Chat sessions" }, newBtn, search, list);
  const sideToggle = h("button", { type: "button", class: "ghost sidebar-toggle", "aria-label": "Show chats", "aria-expanded": "false" }, "☰ Chats");
  sideToggle.addEventListener("click", () => {
    const open = sidebar.classList.toggle("open");
    sideToggle.setAttribute("aria-expanded", String(open));
  });

  const modelSelect = h("select", { "aria-label": "Model", class: "model-select" });
  const canvasBtn = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Canvas");
  const heading = h("h1", { class: "chat-title" }, "New chat");
  const log = h("div", { class: "messages", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  const chips = h("ul", { class: "chips", "aria-label": "Attachments" });
  const fileInput = h("input", { type: "file", multiple: true, hidden: true });
  const attachBtn = h("button", { type: "button", class: "ghost", "aria-label": "Attach files", title: "Attach files (or drop them here)" }, "Attach");
  const input = h("textarea", { rows: 2, placeholder: "Send a message", title: "Enter sends; Shift+Enter starts a new line", "aria-label": "Message" });
  const sendBtn = h("button", { type: "submit", class: "primary" }, "Send");
  const stopBtn = h("button", { type: "button", class: "danger", hidden: true }, "Stop");
  const composer = h("form", { class: "composer" }, chips, h("div", { class: "composer-row" }, attachBtn, fileInput, input, sendBtn, stopBtn));
  const dropHint = h("div", { class: "drop-hint", hidden: true }, "Drop files to attach");
  const convo = h("section", { class: "conversation" },
    h("div", { class: "chat-head" }, sideToggle, heading, modelSelect, canvasBtn), log, composer, dropHint);
  const canvas = canvasPane();
  canvas.el.hidden = true;
  main.append(h("div", { class: "chat-layout" }, sidebar, convo, canvas.el));

  // --- sessions -----------------------------------------------------------------------------
  function renderSessions() {
    const q = st.filter.toLowerCase();
    const shown = st.sessions.filter((s) => (s.title || "New chat").toLowerCase().includes(q));
    clear(list, shown.length ? shown.map(sessionItem) : h("li", { class: "muted" }, q ? "No chat matches." : "No chats yet."));
  }

  function sessionItem(s) {
    const current = st.session?.id === s.id;
    const rename = h("button", { type: "button", class: "ghost icon", "aria-label": `Rename ${s.title || "chat"}`, title: "Rename" }, "✎");
    const remove = h("button", { type: "button", class: "ghost icon", "aria-label": `Delete ${s.title || "chat"}`, title: "Delete" }, "✕");
    rename.addEventListener("click", () => busy(rename, async () => {
      const title = prompt("New title", s.title || "");
      if (title === null || !title.trim()) return;
      const updated = await patch(`/api/chat/sessions/${s.id}`, { title: title.trim() });
      Object.assign(s, updated);
      if (current) heading.textContent = s.title;
      renderSessions();
    }));
    remove.addEventListener("click", () => busy(remove, async () => {
      if (!confirm(`Delete "${s.title || "New chat"}" and its messages?`)) return;
      await del(`/api/chat/sessions/${s.id}`);
      st.sessions = st.sessions.filter((x) => x.id !== s.id);
      if (current) navigate("/chat");
      else renderSessions();
    }));
    return h("li", { class: current ? "current" : "" },
      h("a", { href: `/chat/${s.id}`, "aria-current": current ? "page" : undefined }, s.title || "New chat"),
      h("span", { class: "row-actions" }, rename, remove));
  }

  search.addEventListener("input", () => {
    st.filter = search.value;
    renderSessions();
  });

  async function loadSessions() {
    st.sessions = (await get("/api/chat/sessions")).sessions || [];
    renderSessions();
  }

  // --- models ---------------------------------------------------------------------------------
  function renderModels() {
    const ids = st.models.map((m) => m.id);
    if (!ids.includes(st.model)) st.model = st.session?.model && ids.includes(st.session.model) ? st.session.model : ids[0] || "";
    clear(modelSelect, st.models.map((m) => h("option", { value: m.id, selected: m.id === st.model || undefined }, m.id)));
    if (!ids.length) modelSelect.append(h("option", { value: "" }, "No models"));
  }
  modelSelect.addEventListener("change", async () => {
    st.model = modelSelect.value;
    localStorage.setItem("llmportal.model", st.model);
    if (st.session) {
      try {
        await patch(`/api/chat/sessions/${st.session.id}`, { model: st.model });
      } catch (err) {
        toast(err.message, "error");
      }
    }
  });

  // --- messages -------------------------------------------------------------------------------
  function messageEl(m) {
    const body = h("div", { class: "body" });
    if (m.role === "assistant") renderMarkdown(body, m.content);
    else body.textContent = m.content;
    const el = h("article", { class: `msg ${m.role}`, "aria-label": m.role === "user" ? "You" : "Assistant" },
      h("div", { class: "who" }, m.role === "user" ? "You" : m.model || "Assistant"), body);
    const calls = m.metadata?.toolCalls ||
      (m.toolCalls || []).map((c) => ({ id: c.id, name: c.function?.name, arguments: c.function?.arguments }));
    if (calls?.length) el.append(toolCalls(calls));
    if (m.attachments?.length) {
      el.append(h("ul", { class: "chips" }, m.attachments.map((a) => h("li", { class: "chip" }, h("a", { href: a.url, download: a.name }, a.name), h("small", {}, fmt.bytes(a.size))))));
    }
    if (m.role === "assistant" && m.id) el.append(actions(m));
    m.el = el;
    m.bodyEl = body;
    return el;
  }

  function toolCalls(calls) {
    return h("div", { class: "tool-calls" }, calls.map((c) =>
      h("details", { class: "tool-call" }, h("summary", {}, `Tool call: ${c.name || "function"}`), h("pre", {}, h("code", {}, prettyArgs(c.arguments))))));
  }

  function prettyArgs(args) {
    try {
      return JSON.stringify(JSON.parse(args), null, 2);
    } catch {
      return args || "";
    }
  }

  function actions(m) {
    const up = h("button", { type: "button", class: "ghost icon", "aria-label": "Good answer", "aria-pressed": String(m.rating === 1) }, "▲ Good");
    const down = h("button", { type: "button", class: "ghost icon", "aria-label": "Bad answer", "aria-pressed": String(m.rating === -1) }, "▼ Bad");
    const rate = (value, btn) => busy(btn, async () => {
      const res = await post(`/api/chat/messages/${m.id}/rating`, { rating: value });
      m.rating = res.rating;
      up.setAttribute("aria-pressed", String(m.rating === 1));
      down.setAttribute("aria-pressed", String(m.rating === -1));
    });
    up.addEventListener("click", () => rate("up", up));
    down.addEventListener("click", () => rate("down", down));
    const copy = h("button", { type: "button", class: "ghost icon", "aria-label": "Copy answer", onClick: () => copyText(m.content) }, "Copy");
    const isLast = st.messages[st.messages.length - 1] === m;
    const retry = isLast ? h("button", { type: "button", class: "ghost", onClick: () => send({ retry: true }) }, "↻ Retry") : null;
    return h("div", { class: "msg-actions" }, up, down, copy, retry);
  }

  function renderMessages() {
    clear(log, st.messages.length ? st.messages.map(messageEl) : h("p", { class: "empty muted" }, "Ask anything. Drop files here to attach them."));
    log.scrollTop = log.scrollHeight;
  }

  // --- attachments ----------------------------------------------------------------------------
  function renderChips() {
    clear(chips, st.pending.map((a) => h("li", { class: "chip" }, a.name,
      h("button", { type: "button", class: "ghost icon", "aria-label": `Remove ${a.name}`, onClick: () => {
        st.pending = st.pending.filter((x) => x !== a);
        del(`/api/chat/attachments/${a.id}`).catch(() => {});
        renderChips();
      } }, "✕"))));
  }

  async function upload(files) {
    if (!files.length) return;
    const form = new FormData();
    for (const f of [...files].slice(0, 5)) form.append("files", f);
    try {
      const res = await post("/api/chat/attachments", form);
      st.pending.push(...res.attachments);
      renderChips();
    } catch (err) {
      toast(err.message, "error");
    }
  }
  attachBtn.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    upload(fileInput.files);
    fileInput.value = "";
  });
  let depth = 0;
  convo.addEventListener("dragenter", (e) => {
    if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
    e.preventDefault();
    depth++;
    dropHint.hidden = false;
  });
  convo.addEventListener("dragover", (e) => e.preventDefault());
  convo.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) dropHint.hidden = true;
  });
  convo.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    dropHint.hidden = true;
    upload(e.dataTransfer?.files || []);
  });

  // --- sending and streaming ------------------------------------------------------------------
  function setStreaming(on) {
    sendBtn.hidden = on;
    stopBtn.hidden = !on;
    input.disabled = on;
  }
  stopBtn.addEventListener("click", () => st.controller?.abort());

  async function send({ retry = false } = {}) {
    if (st.controller) return;
    let userMsg = null;
    if (!st.model) return toast("No model is available", "error");
    const text = input.value.trim();
    if (!retry && !text && !st.pending.length) return;
    try {
      if (!st.session) {
        st.session = await post("/api/chat/sessions", { model: st.model });
        history.replaceState(null, "", `/chat/${st.session.id}`);
        canvas.setSession(st.session.id);
      }
      if (retry) {
        // Ask again from the last user message. The stored answer is marked superseded (there is
        // no message delete): it stays for the record but leaves the conversation.
        const last = st.messages[st.messages.length - 1];
        if (last?.role === "assistant") {
          st.messages.pop();
          if (last.id) await patch(`/api/chat/messages/${last.id}`, { metadata: { superseded: true } });
        }
      } else {
        userMsg = { role: "user", content: text || "(attachments)", attachments: st.pending.slice() };
        st.messages.push(userMsg);
        st.pending = [];
        renderChips();
        input.value = "";
      }
    } catch (err) {
      return toast(err.message, "error");
    }
    // A fresh turn goes with session_id: the server stores the question and the answer together
    // once the answer is complete. A retry, a stopped answer or a failure is stored from here.
    const payload = { model: st.model, messages: null, session_id: undefined, attachments: undefined };
    if (userMsg) {
      payload.session_id = st.session.id;
      if (userMsg.attachments.length) payload.attachments = userMsg.attachments.map((a) => a.id);
    }
    const reply = { role: "assistant", content: "", model: st.model, metadata: {} };
    const history_ = st.messages.filter((m) => m.role === "user" || m.role === "assistant").map((m) => ({ role: m.role, content: m.content }));
    payload.messages = history_;
    st.messages.push(reply);
    renderMessages();
    reply.el.classList.add("streaming");
    const calls = [];
    st.controller = new AbortController();
    setStreaming(true);
    let stopped = false;
    let frame = 0;
    const paint = () => {
      frame = 0;
      renderMarkdown(reply.bodyEl, reply.content);
      log.scrollTop = log.scrollHeight;
    };
    try {
      await streamCompletion(payload, (delta) => {
        if (delta.content) reply.content += delta.content;
        for (const tc of delta.tool_calls || []) {
          const c = (calls[tc.index ?? 0] ||= { id: "", name: "", arguments: "" });
          if (tc.id) c.id = tc.id;
          if (tc.function?.name) c.name += tc.function.name;
          if (tc.function?.arguments) c.arguments += tc.function.arguments;
        }
        if (!frame) frame = requestAnimationFrame(paint);
      }, st.controller.signal);
    } catch (err) {
      if (err.name === "AbortError") stopped = true;
      else {
        reply.error = err instanceof ApiError ? err.message : "The connection was interrupted";
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      st.controller = null;
      setStreaming(false);
    }
    if (calls.length) reply.metadata.toolCalls = calls.filter(Boolean);
    if (stopped) reply.metadata.stopped = true;
    const storedByServer = userMsg && !stopped && !reply.error;
    if (userMsg && !storedByServer) await storeUserMessage(userMsg);
    if (reply.error && !reply.content) {
      st.messages.pop();
      renderMessages();
      log.append(h("p", { class: "alert error", role: "alert" }, reply.error, " ", h("button", { type: "button", class: "secondary", onClick: () => send({ retry: true }) }, "Retry")));
      input.focus();
      return;
    }
    if (storedByServer) {
      try {
        st.messages = shown((await get(`/api/chat/sessions/${st.session.id}/messages`)).messages);
      } catch (err) {
        toast(err.message, "error");
      }
    } else {
      await storeReply(reply);
    }
    renderMessages();
    loadSessions()
      .then(() => {
        const s = st.sessions.find((x) => x.id === st.session?.id);
        if (s) heading.textContent = s.title || "New chat";
      })
      .catch(() => {});
    input.focus();
  }

  function shown(messages) {
    return (messages || []).filter((m) => !m.metadata?.superseded);
  }

  async function storeUserMessage(msg) {
    try {
      const body = { sessionId: st.session.id, role: "user", content: msg.content, model: st.model };
      if (msg.attachments.length) body.attachments = msg.attachments.map((a) => ({ id: a.id }));
      Object.assign(msg, await post("/api/chat/messages", body));
    } catch (err) {
      toast(`The message was not saved: ${err.message}`, "error");
    }
  }

  async function storeReply(reply) {
    try {
      const body = { sessionId: st.session.id, role: "assistant", content: reply.content, model: st.model };
      if (Object.keys(reply.metadata).length) body.metadata = reply.metadata;
      Object.assign(reply, await post("/api/chat/messages", body));
    } catch (err) {
      toast(`The answer was not saved: ${err.message}`, "error");
    }
  }

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  canvasBtn.addEventListener("click", () => {
    const show = canvas.el.hidden;
    canvas.el.hidden = !show;
    canvasBtn.setAttribute("aria-pressed", String(show));
    if (show) canvas.open();
  });

  // --- load -----------------------------------------------------------------------------------
  const [models] = await Promise.all([get("/api/chat/models").catch(() => ({ data: [] })), loadSessions().catch((e) => toast(e.message, "error"))]);
  st.models = models.data || [];
  const id = rest && rest.split("/")[0];
  if (id) {
    try {
      const s = await get(`/api/chat/sessions/${id}`);
      st.session = s;
      st.messages = shown(s.messages || (await get(`/api/chat/sessions/${id}/messages`)).messages);
      heading.textContent = s.title || "New chat";
      if (s.model) st.model = s.model;
      canvas.setSession(s.id);
    } catch (err) {
      toast(err.status === 404 ? "That chat does not exist" : err.message, "error");
      navigate("/chat", { replace: true });
      return undefined;
    }
  } else {
    canvas.setSession(null);
  }
  renderModels();
  renderSessions();
  renderMessages();
  input.focus();
  return () => st.controller?.abort();
}
