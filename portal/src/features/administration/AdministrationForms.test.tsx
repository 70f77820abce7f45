import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { me, network, page } from "../history/testing/fixtures";
import AdministrationScreen from "./AdministrationScreen";

const eric = {
  user_id: "u0000000-0000-0000-0000-00000000000e",
  email: "eric@demo.example",
  first_name: "Eric",
  last_name: "English",
  role: "agent",
  mother_tongue: "en",
  active: true,
  presence: "offline",
  languages: ["en", "nl"],
  channel_ids: [],
  competences: ["k1"],
  capacity: 3,
};
const orders = { id: "k1", name: "Orders", description: "" };
const common = {
  "GET /v1/me": { status: 200, body: me("administrator") },
  "GET /v1/users": { status: 200, body: page([eric]) },
  "GET /v1/settings/general": { status: 200, body: { routing_enabled: true, languages: ["nl", "fr", "en"], default_capacity: 5 } },
  "GET /v1/channels": { status: 200, body: [] },
  "GET /v1/competences": { status: 200, body: page([orders]) },
};

function show(route: string) {
  return renderWithProviders(
    <Routes>
      <Route path="/administration/*" element={<AdministrationScreen />} />
    </Routes>,
    { route },
  );
}

describe("Administration forms", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("edits a user with PATCH, deactivates one, and shows a refused language by the languages", async () => {
    const net = network({
      ...common,
      [`PATCH /v1/users/${eric.user_id}`]: (request) =>
        (request.body as { languages: string[] }).languages.includes("fr")
          ? { status: 422, body: { error: { code: "language_not_offered", message: "Add the language to the general settings first.", details: { languages: ["fr"] } } } }
          : { status: 200, body: { ...eric, ...(request.body as object) } },
      [`POST /v1/users/${eric.user_id}/deactivation`]: { status: 200, body: { ...eric, active: false } },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/users");
    await userEvent.click(await screen.findByRole("button", { name: "Edit Eric English" }));
    const form = screen.getByRole("form", { name: "Edit Eric English" });
    expect(within(form).getByLabelText("Capacity")).toHaveValue(3);
    expect(within(form).getByRole("checkbox", { name: "Orders" })).toBeChecked();
    expect(within(form).queryByLabelText("Password")).toBeNull();
    await userEvent.click(within(form).getByRole("checkbox", { name: "French" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    const group = within(form).getByRole("group", { name: "Spoken languages" });
    expect(await within(group).findByText("Add the language to the general settings first.")).toBeInTheDocument();
    expect(within(form).getByRole("checkbox", { name: "French" })).toBeChecked();
    await userEvent.click(within(form).getByRole("checkbox", { name: "French" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "Edit Eric English" })).toBeNull());
    expect(net.last(`PATCH /v1/users/${eric.user_id}`)!.body).toMatchObject({ languages: ["en", "nl"], competences: ["k1"], capacity: 3 });

    await userEvent.click(screen.getByRole("button", { name: "Deactivate Eric English" }));
    await waitFor(() => expect(net.last(`POST /v1/users/${eric.user_id}/deactivation`)).toBeDefined());
  }, 20_000);

  it("deletes a user only after the confirmation, and offers no deactivation of oneself", async () => {
    const self = { ...eric, user_id: me("administrator").user_id, first_name: "Test", last_name: "administrator" };
    const net = network({
      ...common,
      "GET /v1/users": { status: 200, body: page([eric, self]) },
      [`DELETE /v1/users/${eric.user_id}`]: { status: 204 },
    });
    vi.stubGlobal("fetch", net.fetcher);
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    show("/administration/users");
    await userEvent.click(await screen.findByRole("button", { name: "Delete Eric English" }));
    expect(net.last(`DELETE /v1/users/${eric.user_id}`)).toBeUndefined();
    await userEvent.click(screen.getByRole("button", { name: "Delete Eric English" }));
    await waitFor(() => expect(net.last(`DELETE /v1/users/${eric.user_id}`)).toBeDefined());
    expect(confirm).toHaveBeenCalledWith("Delete Eric English for good?");
    expect(screen.queryByRole("button", { name: "Delete Test administrator" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Deactivate Test administrator" })).toBeNull();
    confirm.mockRestore();
  }, 20_000);

  it("sets who has a competence", async () => {
    const net = network({
      ...common,
      "GET /v1/competences/k1/users": { status: 200, body: [] },
      "PUT /v1/competences/k1/users": { status: 204 },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/competences");
    await userEvent.click(await screen.findByRole("button", { name: "People with Orders" }));
    const form = await screen.findByRole("form", { name: "Who has Orders" });
    await userEvent.click(within(form).getByRole("checkbox", { name: "Eric English" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(net.last("PUT /v1/competences/k1/users")).toBeDefined());
    expect(net.last("PUT /v1/competences/k1/users")!.body).toEqual({ user_ids: [eric.user_id] });
  }, 20_000);

  it("connects WhatsApp with its id and credentials", async () => {
    const net = network({
      ...common,
      "GET /v1/channels/types": {
        status: 200,
        body: [{ channel_type: "whatsapp", name: "WhatsApp", needs_credentials: true, needs_option: null }],
      },
      "POST /v1/channels": (request) =>
        (request.body as { external_id: string }).external_id
          ? { status: 201, body: { channel_id: "w1", channel_type: "whatsapp", name: "Shop WhatsApp", public_key: "pk", external_id: "123", out_of_office_message: "Gesloten", connected: true, allowed_origins: [] } }
          : { status: 422, body: { error: { code: "credentials_required", message: "Meta channels need external_id (page or phone number id) and credentials." } } },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/channels");
    const connect = await screen.findByRole("form", { name: "Connect a channel" });
    await userEvent.type(within(connect).getByLabelText("Name"), "Shop WhatsApp");
    await userEvent.click(within(connect).getByRole("button", { name: "Connect" }));
    expect(await within(connect).findByText(/Meta channels need external_id/)).toBeInTheDocument();
    expect(within(connect).getByLabelText("Page or phone number id")).toHaveAttribute("aria-invalid", "true");
    await userEvent.type(within(connect).getByLabelText("Page or phone number id"), "123");
    await userEvent.type(within(connect).getByLabelText("App secret"), "s3cret");
    await userEvent.type(within(connect).getByLabelText("Access token"), "tok");
    await userEvent.type(within(connect).getByLabelText("Verify token"), "ver");
    await userEvent.type(within(connect).getByLabelText("Out-of-office message"), "Gesloten");
    await userEvent.click(within(connect).getByRole("button", { name: "Connect" }));
    await waitFor(() => expect(net.calls.filter((c) => c.path === "/v1/channels" && c.method === "POST")).toHaveLength(2));
    expect(net.last("POST /v1/channels")!.body).toEqual({
      channel_type: "whatsapp",
      name: "Shop WhatsApp",
      out_of_office_message: "Gesloten",
      external_id: "123",
      credentials: { app_secret: "s3cret", access_token: "tok", verify_token: "ver" },
      allowed_origins: [],
    });
  }, 20_000);

  it("turns routing off and shows a refused capacity next to it", async () => {
    const net = network({
      ...common,
      "PUT /v1/settings/general": (request) =>
        (request.body as { default_capacity: number }).default_capacity > 1000
          ? {
              status: 422,
              body: { error: { code: "invalid_request", message: "The request is not valid.", details: [{ loc: ["body", "default_capacity"], msg: "Input should be less than or equal to 1000", type: "less_than_equal" }] } },
            }
          : { status: 200, body: request.body },
    });
    vi.stubGlobal("fetch", net.fetcher);
    show("/administration/general");
    const routing = await screen.findByRole("checkbox", { name: "Automatic routing on" });
    expect(routing).toBeChecked();
    await userEvent.click(routing);
    await userEvent.clear(screen.getByLabelText("Default capacity per person"));
    await userEvent.type(screen.getByLabelText("Default capacity per person"), "5000");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Input should be less than or equal to 1000")).toBeInTheDocument();
    expect(screen.getByLabelText("Default capacity per person")).toHaveValue(5000);
    await userEvent.clear(screen.getByLabelText("Default capacity per person"));
    await userEvent.type(screen.getByLabelText("Default capacity per person"), "4");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Saved.")).toBeInTheDocument();
    expect(net.last("PUT /v1/settings/general")!.body).toEqual({ routing_enabled: false, languages: ["nl", "fr", "en"], default_capacity: 4 });
  }, 20_000);
});
