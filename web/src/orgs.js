// The org switcher's state: which org (or none: personal) the keys and org pages act for.
// Kept in localStorage per browser; the API itself names the org in every path, so a stale
// choice only costs a 404, after which the app falls back to personal.
import { get } from "./api.js";
import { h, option } from "./dom.js";

const SELECTED = "llmportal.org";
export const orgState = { orgs: [] };

export function selectedOrgId() {
  return localStorage.getItem(SELECTED) || "";
}

export function selectOrg(id) {
  if (id) localStorage.setItem(SELECTED, id);
  else localStorage.removeItem(SELECTED);
}

export function selectedOrg() {
  return orgState.orgs.find((o) => o.id === selectedOrgId()) || null;
}

export async function loadOrgs() {
  try {
    orgState.orgs = (await get("/api/orgs")).orgs;
  } catch {
    orgState.orgs = [];
  }
  if (selectedOrgId() && !selectedOrg()) selectOrg("");
  return orgState.orgs;
}

export function forgetOrgs() {
  orgState.orgs = [];
  selectOrg("");
}

export const canManage = (org) => !org || org.role === "OWNER" || org.role === "ADMIN";

// <select> of Personal and each org; onChange(id) after the choice is stored.
export function orgSwitcher(onChange) {
  const select = h("select", { class: "org-switcher", "aria-label": "Acting for" },
    option("", "Personal", !selectedOrgId()),
    orgState.orgs.map((o) => option(o.id, o.name, o.id === selectedOrgId())));
  select.addEventListener("change", () => {
    selectOrg(select.value);
    onChange(select.value);
  });
  return select;
}
