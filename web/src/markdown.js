// Model output is untrusted: Markdown -> HTML -> DOMPurify, code highlighted with highlight.js.
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";
import { Marked } from "marked";

const escapes = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => escapes[c]);

// Raw HTML in an answer is shown as text, never parsed: nothing in it can run or even be
// parsed as an element (DOMPurify below is the second line of defence).
const marked = new Marked({ gfm: true, breaks: false, renderer: { html: (token) => escapeHtml(token.text) } });
hljs.configure({ ignoreUnescapedHTML: true });

export function renderMarkdown(el, text) {
  const html = marked.parse(text || "");
  el.innerHTML = DOMPurify.sanitize(html, { FORBID_ATTR: ["style"], FORBID_TAGS: ["style", "form"] });
  for (const a of el.querySelectorAll("a")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  for (const code of el.querySelectorAll("pre code")) {
    hljs.highlightElement(code);
    const pre = code.parentElement;
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "copy-code ghost";
    btn.textContent = "Copy";
    btn.addEventListener("click", () => navigator.clipboard?.writeText(code.textContent));
    pre.prepend(btn);
  }
}
