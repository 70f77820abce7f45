import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { conversation, me, network, page, SilentEventSource } from "../history/testing/fixtures";
import DispatchScreen from "./DispatchScreen";

const waiting = conversation();
const nora = {
  user_id: "u0000000-0000-0000-0000-00000000000n",
  email: "nora@demo.example",
  first_name: "Nora",
  last_name: "Nederlands",
  role: "agent",
  mother_tongue: "nl",
  active: true,
  presence: "online",
  languages: ["nl"],
  channel_ids: [],
  competences: [],
  capacity: null,
};
const detail = { ...waiting, messages: [], notes: [] };

describe("DispatchScreen", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
    vi.stubGlobal("EventSource", SilentEventSource);
    document.cookie = "interact_csrf=csrf-1";
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.cookie = "interact_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  });

  it("lists the waiting conversations and assigns one to a person, live", async () => {
    let assigned = false;
    const net = network({
      "GET /v1/me": { status: 200, body: me("administrator") },
      "GET /v1/dispatch/conversations": (request) =>
        request.query.get("status") === "waiting"
          ? { status: 200, body: page(assigned ? [] : [waiting]) }
          : { status: 200, body: page([{ ...waiting, status: "assigned", assignee_id: nora.user_id }]) },
      "GET /v1/colleagues": { status: 200, body: [nora] },
      "GET /v1/competences": { status: 200, body: page([{ id: "k1", name: "Orders", description: "" }]) },
      [`GET /v1/conversations/${waiting.conversation_id}`]: { status: 200, body: detail },
      [`POST /v1/dispatch/conversations/${waiting.conversation_id}/assign`]: () => {
        assigned = true;
        return { status: 200, body: { ...detail, status: "assigned", assignee_id: nora.user_id } };
      },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<DispatchScreen />);
    expect(SilentEventSource.opened).toContain("/v1/events");
    await userEvent.click(await screen.findByRole("button", { name: "Dispatch: Waar blijft mijn taart?" }));
    await userEvent.selectOptions(screen.getByLabelText("Person"), nora.user_id);
    await userEvent.click(screen.getByRole("button", { name: "Assign" }));
    await waitFor(() => expect(net.last(`POST /v1/dispatch/conversations/${waiting.conversation_id}/assign`)).toBeDefined());
    const call = net.last(`POST /v1/dispatch/conversations/${waiting.conversation_id}/assign`)!;
    expect(call.body).toEqual({ user_id: nora.user_id });
    expect(call.headers.get("X-CSRF-Token")).toBe("csrf-1");
    expect(await screen.findByText("No conversations.")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("tab", { name: "All open" }));
    const table = await screen.findByRole("table");
    expect(within(table).getByText("Nora Nederlands")).toBeInTheDocument();
    expect(net.last("GET /v1/dispatch/conversations")!.query.get("status")).toBe("open");
  }, 20_000);

  it("changes the requirements and keeps them when the API refuses, with its message by the competences", async () => {
    const net = network({
      "GET /v1/me": { status: 200, body: me("manager") },
      "GET /v1/dispatch/conversations": { status: 200, body: page([waiting]) },
      "GET /v1/colleagues": { status: 200, body: [] },
      "GET /v1/competences": {
        status: 200,
        body: page([
          { id: "k1", name: "Orders", description: "" },
          { id: "k2", name: "Baking", description: "" },
        ]),
      },
      [`GET /v1/conversations/${waiting.conversation_id}`]: { status: 200, body: detail },
      [`PUT /v1/dispatch/conversations/${waiting.conversation_id}/requirements`]: {
        status: 422,
        body: { error: { code: "unknown_competence", message: "No such competence: k2.", details: { unknown: ["k2"] } } },
      },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<DispatchScreen />);
    await userEvent.click(await screen.findByRole("button", { name: "Dispatch: Waar blijft mijn taart?" }));
    const language = screen.getByLabelText("Language");
    await userEvent.clear(language);
    await userEvent.type(language, "fr");
    await userEvent.click(screen.getByLabelText("Orders"));
    await userEvent.click(screen.getByLabelText("Baking"));
    await userEvent.click(screen.getByRole("button", { name: "Save requirements" }));
    expect(await screen.findByText("No such competence: k2.")).toBeInTheDocument();
    const call = net.last(`PUT /v1/dispatch/conversations/${waiting.conversation_id}/requirements`)!;
    // Competences travel by id; the names are only shown.
    expect(call.body).toEqual({ language: "fr", competences: ["k1", "k2"] });
    expect(screen.getByLabelText("Orders")).toBeChecked();
    expect(screen.getByLabelText("Baking")).toBeChecked();
    expect(screen.getByLabelText("Language")).toHaveValue("fr");
  }, 20_000);
});
