import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { me, network, page } from "../history/testing/fixtures";
import AdministrationScreen from "./AdministrationScreen";

const ada = {
  user_id: "00000000-0000-0000-0000-00000000000a",
  email: "admin@demo.example",
  first_name: "Ada",
  last_name: "Admin",
  role: "administrator",
  mother_tongue: "nl",
  active: true,
  presence: "online",
  languages: ["nl"],
  channel_ids: [],
  competences: [],
  capacity: null,
};
const website = {
  channel_id: "ch000000-0000-0000-0000-000000000001",
  channel_type: "webchat",
  name: "Website",
  public_key: "pk_demo",
  external_id: null,
  out_of_office_message: null,
  connected: true,
  allowed_origins: ["https://shop.example"],
  last_error: "Graph API said 190: token expired",
  last_error_at: "2026-03-02T09:00:00Z",
};
const common = {
  "GET /v1/me": { status: 200, body: me("administrator") },
  "GET /v1/users": { status: 200, body: page([ada]) },
  "GET /v1/settings/general": { status: 200, body: { routing_enabled: true, languages: ["nl", "fr", "en"], default_capacity: 5 } },
  "GET /v1/channels": { status: 200, body: [website] },
  "GET /v1/competences": { status: 200, body: page([{ id: "k1", name: "Orders", description: "" }]) },
};

function show(route: string) {
  return renderWithProviders(
    <Routes>
      <Route path="/administration/*" element={<AdministrationScreen />} />
    </Routes>,
    { route },
  );
}

describe("AdministrationScreen", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("creates a user, keeps the form when the email is taken and shows why next to the email", async () => {
    let tries = 0;
    const net = network({
      ...common,
      "POST /v1/users": () =>
        ++tries === 1
          ? { status: 409, body: { error: { code: "email_taken", message: "Another end user of this tenant has that email." } } }
          : { status: 201, body: { ...ada, user_id: "new", first_name: "Mia", last_name: "Manager", role: "manager" } },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/users");
    expect(await screen.findByRole("cell", { name: "admin@demo.example" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "New user" }));
    const form = screen.getByRole("form", { name: "New user" });
    await userEvent.type(within(form).getByLabelText("First name"), "Mia");
    await userEvent.type(within(form).getByLabelText("Last name"), "Manager");
    await userEvent.type(within(form).getByLabelText("Email address"), "admin@demo.example");
    await userEvent.selectOptions(within(form).getByLabelText("Role"), "manager");
    await userEvent.click(within(form).getByRole("checkbox", { name: "French" }));
    await userEvent.click(within(form).getByRole("checkbox", { name: "Orders" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    expect(await within(form).findByText("Another end user of this tenant has that email.")).toBeInTheDocument();
    expect(within(form).getByLabelText("Email address")).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByLabelText("First name")).toHaveValue("Mia");

    await userEvent.clear(within(form).getByLabelText("Email address"));
    await userEvent.type(within(form).getByLabelText("Email address"), "mia@demo.example");
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "New user" })).toBeNull());
    expect(net.last("POST /v1/users")!.body).toEqual({
      first_name: "Mia",
      last_name: "Manager",
      email: "mia@demo.example",
      role: "manager",
      mother_tongue: "nl",
      languages: ["fr"],
      channel_ids: [],
      competences: ["k1"],
      capacity: null,
      password: null,
    });
  }, 20_000);

  it("offers an Analyst no competences, channels or languages, and sorts and searches users on the server", async () => {
    const net = network({ ...common, "POST /v1/users": { status: 201, body: ada } });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/users");
    await screen.findByRole("cell", { name: "admin@demo.example" });
    await userEvent.click(screen.getByRole("button", { name: "Sort by Email address" }));
    await waitFor(() => expect(net.last("GET /v1/users")!.query.get("sort")).toBe("email"));
    await userEvent.click(screen.getByRole("button", { name: "Sort by Email address" }));
    await waitFor(() => expect(net.last("GET /v1/users")!.query.get("sort")).toBe("-email"));
    await userEvent.type(screen.getByLabelText("Search by name or email"), "ada");
    await userEvent.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(net.last("GET /v1/users")!.query.get("q")).toBe("ada"));

    await userEvent.click(screen.getByRole("button", { name: "New user" }));
    const form = screen.getByRole("form", { name: "New user" });
    expect(within(form).getByRole("group", { name: "Competences" })).toBeInTheDocument();
    await userEvent.selectOptions(within(form).getByLabelText("Role"), "analyst");
    expect(within(form).queryByRole("group", { name: "Competences" })).toBeNull();
    expect(within(form).queryByRole("group", { name: "Channels" })).toBeNull();
    expect(within(form).queryByRole("group", { name: "Spoken languages" })).toBeNull();
  }, 20_000);

  it("creates a competence and shows a taken name next to the name", async () => {
    const net = network({
      ...common,
      "POST /v1/competences": (request) =>
        (request.body as { name: string }).name === "Orders"
          ? { status: 409, body: { error: { code: "name_taken", message: "A competence with that name exists." } } }
          : { status: 201, body: { id: "k2", name: "Baking", description: "Cakes" } },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/competences");
    expect(await screen.findByRole("heading", { name: "Competences", level: 2 })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "New competence" }));
    const form = screen.getByRole("form", { name: "New competence" });
    await userEvent.type(within(form).getByLabelText("Name"), "Orders");
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    expect(await within(form).findByText("A competence with that name exists.")).toBeInTheDocument();
    await userEvent.clear(within(form).getByLabelText("Name"));
    await userEvent.type(within(form).getByLabelText("Name"), "Baking");
    await userEvent.type(within(form).getByLabelText("Description"), "Cakes");
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "New competence" })).toBeNull());
    expect(net.last("POST /v1/competences")!.body).toEqual({ name: "Baking", description: "Cakes" });
  }, 20_000);

  it("shows the channel's last error, its install snippet, and a refused option as such", async () => {
    const net = network({
      ...common,
      "GET /v1/channels/types": {
        status: 200,
        body: [
          { channel_type: "webchat", name: "Website chat", needs_credentials: false, needs_option: "sdk" },
          { channel_type: "whatsapp", name: "WhatsApp", needs_credentials: true, needs_option: null },
        ],
      },
      "POST /v1/channels": { status: 403, body: { error: { code: "option_required", message: "The website chat needs the SDK option.", details: { option: "sdk" } } } },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/channels");
    expect(await screen.findByText(/Graph API said 190: token expired/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Settings of Website" }));
    expect(screen.getByLabelText("Install snippet").textContent).toContain('data-channel="pk_demo"');
    const connect = screen.getByRole("form", { name: "Connect a channel" });
    await userEvent.type(within(connect).getByLabelText("Name"), "Shop");
    await userEvent.type(within(connect).getByLabelText("Allowed websites (origins)"), "https://www.shop.example");
    await userEvent.click(within(connect).getByRole("button", { name: "Connect" }));
    expect(await within(connect).findByText(/Your plan does not include the sdk option/)).toBeInTheDocument();
    expect(within(connect).getByLabelText("Name")).toHaveValue("Shop");
    expect(net.last("POST /v1/channels")!.body).toMatchObject({ channel_type: "webchat", name: "Shop", allowed_origins: ["https://www.shop.example"] });

    await userEvent.selectOptions(within(connect).getByLabelText("Type"), "whatsapp");
    expect(within(connect).getByLabelText("App secret")).toBeInTheDocument();
    expect(within(connect).queryByLabelText("Allowed websites (origins)")).toBeNull();
  }, 20_000);

  it("says the plan does not include the chatbot without the Bot plan", async () => {
    vi.stubGlobal("fetch", network(common).fetcher);
    show("/administration/chatbots");
    expect(await screen.findByText(/Your plan does not include this \(needs: bot\)/)).toBeInTheDocument();
  }, 20_000);

  it("saves office hours with a closing day", async () => {
    const net = network({
      ...common,
      "GET /v1/settings/office-hours": { status: 200, body: { time_zone: "Europe/Brussels", weekly: { monday: [{ start: "09:00:00", end: "17:00:00" }] }, closing_days: [], always_open: false } },
      "PUT /v1/settings/office-hours": (request) => ({ status: 200, body: request.body }),
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/office-hours");
    expect(await screen.findByLabelText("Open on Monday")).toBeChecked();
    await userEvent.click(screen.getByLabelText("Open on Tuesday"));
    await userEvent.click(screen.getByRole("button", { name: "Add a closing day" }));
    await userEvent.type(screen.getByLabelText("Date"), "2026-12-25");
    await userEvent.click(screen.getByLabelText("Every year"));
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Saved.")).toBeInTheDocument();
    expect(net.last("PUT /v1/settings/office-hours")!.body).toEqual({
      time_zone: "Europe/Brussels",
      always_open: false,
      weekly: { monday: [{ start: "09:00", end: "17:00" }], tuesday: [{ start: "09:00", end: "17:00" }] },
      closing_days: [{ date: "2026-12-25", recurring_yearly: true, label: null }],
    });
  }, 20_000);
});
