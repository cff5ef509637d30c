// The link of an invitation email: /accept-invitation?token=T. Signed in with the invited
// address, one click joins the organization; signed out, sign in first and come back here.
import { post } from "../api.js";
import { alertBox, busy, h } from "../dom.js";
import { loadOrgs, selectOrg } from "../orgs.js";

export function acceptInvitationPage(main, { params, state }) {
  const token = params.get("token");
  const card = h("section", { class: "card auth-card" }, h("h1", {}, "Join an organization"));
  main.append(card);
  if (!token) {
    card.append(h("p", { class: "alert error" }, "This link has no token. Open the link from the email again."));
    return;
  }
  if (!state.user) {
    const back = encodeURIComponent(`/accept-invitation?token=${encodeURIComponent(token)}`);
    card.append(
      h("p", {}, "Sign in with the address the invitation was sent to, then accept it."),
      h("p", {}, h("a", { href: `/login?next=${back}`, class: "button primary" }, "Sign in"), " ",
        h("a", { href: "/register" }, "Create an account")));
    return;
  }
  const alert = alertBox();
  const accept = h("button", { type: "button", class: "primary" }, "Accept the invitation");
  card.append(h("p", {}, `Signed in as ${state.user.email}.`), alert, accept);
  accept.addEventListener("click", () =>
    busy(accept, async () => {
      const org = await post("/api/orgs/invitations/accept", { token });
      await loadOrgs();
      selectOrg(org.id);
      card.replaceChildren(
        h("h1", {}, "Join an organization"),
        h("p", { class: "alert ok", role: "status" }, `You joined ${org.name} as ${org.role.toLowerCase()}.`),
        h("p", {}, h("a", { href: `/orgs/${org.id}`, class: "button primary" }, `Open ${org.name}`)));
    }, alert));
}
