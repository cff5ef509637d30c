// Organizations: the list of mine and a new one; an org's page with its members (roles, remove,
// leave), invitations (invite, pending, revoke) and the usage of its keys per member.
import { del, get, patch, post } from "../api.js";
import { alertBox, busy, clear, field, fmt, h, option } from "../dom.js";
import { canManage, loadOrgs, selectOrg } from "../orgs.js";
import { stat } from "./keys.js";

const RANK = { MEMBER: 1, ADMIN: 2, OWNER: 3 };

export async function orgsPage(main, ctx) {
  if (ctx.rest) return orgPage(main, ctx, ctx.rest);
  const alert = alertBox();
  const list = h("div", {});
  const name = field("Name", { required: true, maxlength: 100 });
  const create = h("form", { class: "row wrap create-org" }, name, h("button", { type: "submit", class: "primary" }, "Create organization"));
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Organizations")), alert, list,
    h("section", { class: "card" }, h("h2", {}, "New organization"),
      h("p", { class: "muted" }, "You become its owner; invite members from its page."), create));
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create.querySelector("button"), async () => {
      const org = await post("/api/orgs", { name: name.input.value.trim() });
      await loadOrgs();
      ctx.navigate(`/orgs/${org.id}`);
    }, alert);
  });
  const orgs = await loadOrgs();
  clear(list, orgs.length
    ? h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Name", "My role", "Members", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, orgs.map((o) => h("tr", {},
        h("td", { "data-label": "Name" }, h("a", { href: `/orgs/${o.id}` }, o.name)),
        h("td", { "data-label": "My role" }, h("span", { class: "badge" }, o.role)),
        h("td", { "data-label": "Members" }, fmt.num(o.memberCount)),
        h("td", { "data-label": "" }, h("a", { href: `/orgs/${o.id}` }, "Open"))))))
    : h("p", { class: "muted" }, "You are not in any organization yet."));
}

async function orgPage(main, ctx, orgId) {
  const alert = alertBox();
  let org;
  try {
    org = await get(`/api/orgs/${orgId}`);
  } catch (err) {
    main.append(h("h1", {}, "Organization"), h("p", { class: "alert error" }, err.message), h("a", { href: "/orgs" }, "All organizations"));
    return;
  }
  const manage = canManage(org);
  const owner = org.role === "OWNER";
  const me = ctx.state.user.id;
  const reopen = async () => {
    await loadOrgs();
    ctx.refresh();
  };
  const button = (label, fn, cls = "secondary") => {
    const b = h("button", { type: "button", class: cls }, label);
    b.addEventListener("click", () => busy(b, fn, alert));
    return b;
  };
  const actions = h("div", { class: "row wrap org-actions" },
    button("Use its keys", () => {
      selectOrg(org.id);
      ctx.navigate("/keys");
    }, "primary"),
    owner ? button("Rename", async () => {
      const name = prompt("New name of the organization:", org.name);
      if (name === null) return;
      await patch(`/api/orgs/${org.id}`, { name });
      await reopen();
    }) : null,
    button("Leave", async () => {
      if (!confirm(`Leave ${org.name}? You lose access to its keys.`)) return;
      await post(`/api/orgs/${org.id}/leave`);
      selectOrg("");
      await loadOrgs();
      ctx.navigate("/orgs");
    }),
    owner ? button("Delete", async () => {
      if (!confirm(`Delete ${org.name}? Its keys stop working at once.`)) return;
      await del(`/api/orgs/${org.id}`);
      selectOrg("");
      await loadOrgs();
      ctx.navigate("/orgs");
    }, "ghost danger-text") : null);
  const members = h("section", { class: "card" }, h("h2", {}, "Members"));
  const invitations = h("section", { class: "card", hidden: !manage }, h("h2", {}, "Invitations"));
  const usage = h("section", { class: "card" }, h("h2", {}, "Usage of the keys, last 30 days"));
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, org.name), h("span", { class: "badge" }, `You: ${org.role}`)),
    alert, actions, members, invitations, usage);

  async function loadMembers() {
    const list = (await get(`/api/orgs/${org.id}/members`)).members;
    const body = list.map((m) => {
      // An admin manages admins and members; only an owner touches owners.
      const mayChange = manage && m.userId !== me && (owner || m.role !== "OWNER");
      const roles = ["MEMBER", "ADMIN", "OWNER"].filter((r) => owner || RANK[r] <= RANK.ADMIN);
      const role = mayChange
        ? h("select", { "aria-label": `Role of ${m.name || m.email}` }, roles.map((r) => option(r, r, r === m.role)))
        : h("span", { class: "badge" }, m.role);
      if (mayChange) {
        role.addEventListener("change", () => busy(role, async () => {
          try {
            await patch(`/api/orgs/${org.id}/members/${m.userId}`, { role: role.value });
          } finally {
            await loadMembers(); // a refused change shows the role as it still is
          }
        }, alert));
      }
      const remove = mayChange
        ? button("Remove", async () => {
          if (!confirm(`Remove ${m.name || m.email} from ${org.name}? The keys they created stay the organization's.`)) return;
          await del(`/api/orgs/${org.id}/members/${m.userId}`);
          await loadMembers();
        }, "ghost danger-text")
        : null;
      return h("tr", {},
        h("td", { "data-label": "Name" }, m.name || "—", m.userId === me ? h("span", { class: "muted" }, " (you)") : null),
        h("td", { "data-label": "Email" }, m.email),
        h("td", { "data-label": "Role" }, role),
        h("td", { "data-label": "Joined" }, fmt.date(m.joinedAt)),
        h("td", { "data-label": "Actions", class: "actions" }, remove));
    });
    clear(members, h("h2", {}, "Members"), h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Joined", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, body)));
  }

  async function loadInvitations() {
    const email = field("Email", { type: "email", required: true, maxlength: 320 });
    const role = field("Role", { type: "select", options: ["MEMBER", "ADMIN", owner ? "OWNER" : null].filter(Boolean).map((r) => option(r, r)) });
    const form = h("form", { class: "row wrap invite-form" }, email, role, h("button", { type: "submit", class: "primary" }, "Send invitation"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(form.querySelector("button"), async () => {
        const sent = await post(`/api/orgs/${org.id}/invitations`, { email: email.input.value.trim(), role: role.input.value });
        alert.show(`Invitation sent to ${sent.email}.`, "ok");
        await loadInvitations();
      }, alert);
    });
    const pending = (await get(`/api/orgs/${org.id}/invitations`)).invitations;
    clear(invitations, h("h2", {}, "Invitations"),
      h("p", { class: "muted" }, "The emailed link works once, for 7 days, for whoever signs in with that address."),
      form,
      h("h3", {}, "Pending"),
      pending.length ? h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Email", "Role", "Invited by", "Expires", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, pending.map((i) => h("tr", {},
          h("td", { "data-label": "Email" }, i.email),
          h("td", { "data-label": "Role" }, i.role),
          h("td", { "data-label": "Invited by" }, i.invitedBy ? i.invitedBy.name || i.invitedBy.email : "—"),
          h("td", { "data-label": "Expires" }, fmt.datetime(i.expiresAt)),
          h("td", { "data-label": "Actions", class: "actions" }, button("Revoke", async () => {
            await del(`/api/orgs/${org.id}/invitations/${i.id}`);
            await loadInvitations();
          }, "ghost danger-text"))))))
        : h("p", { class: "muted" }, "No pending invitations."));
  }

  async function loadUsage() {
    const u = await get(`/api/orgs/${org.id}/usage?days=30`);
    clear(usage, h("h2", {}, "Usage of the keys, last 30 days"),
      h("div", { class: "stats" },
        stat("Requests", fmt.num(u.totals.requests)),
        stat("Tokens", fmt.num(u.totals.tokens)),
        stat("Cost", fmt.money(u.totals.cost)),
        stat("Errors", fmt.num(u.totals.errors))),
      u.byMember.length ? h("table", { class: "table" },
        h("caption", {}, "By the member who created the key"),
        h("thead", {}, h("tr", {}, ["Member", "Requests", "Tokens", "Cost"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, u.byMember.map((m) => h("tr", {},
          h("td", { "data-label": "Member" }, m.name || m.email || m.userId),
          h("td", { "data-label": "Requests" }, fmt.num(m.requests)),
          h("td", { "data-label": "Tokens" }, fmt.num(m.tokens)),
          h("td", { "data-label": "Cost" }, fmt.money(m.cost))))))
        : h("p", { class: "muted" }, "No requests with the organization's keys yet."));
  }

  await busy(null, async () => {
    await Promise.all([loadMembers(), manage ? loadInvitations() : null, loadUsage()]);
  }, alert);
}
