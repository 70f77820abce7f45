import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { conversation, me, network, page } from "./testing/fixtures";
import HistoryScreen from "./HistoryScreen";
import { startOfDay } from "./period";

const closed = conversation({ status: "archived", closed_at: "2026-03-02T10:00:00Z", topics: ["Delivery"] });

describe("HistoryScreen", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("sends all seven filters, the period as the tenant's local days, sorts and opens a conversation read-only", async () => {
    const net = network({
      "GET /v1/me": { status: 200, body: me("manager") },
      "GET /v1/history": { status: 200, body: page([closed], 60) },
      "GET /v1/topics": { status: 200, body: page([{ id: "t1", name: "Delivery", description: "" }]) },
      "GET /v1/competences": { status: 403, body: { error: { code: "forbidden", message: "Not for your role." } } },
      "GET /v1/channels": { status: 403, body: { error: { code: "forbidden", message: "Not for your role." } } },
      [`GET /v1/conversations/${closed.conversation_id}`]: {
        status: 200,
        body: {
          ...closed,
          messages: [
            { message_id: "m1", direction: "in", author: "visitor", kind: "text", text: "Waar blijft mijn taart?", at: "2026-03-02T09:00:00Z" },
            { message_id: "m2", direction: "out", author: "agent", kind: "text", text: "Ze is onderweg!", at: "2026-03-02T09:05:00Z", delivery_status: "read" },
          ],
          notes: [],
        },
      },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<HistoryScreen />);
    expect(await screen.findByText("60 conversations")).toBeInTheDocument();
    // The channel seen in the results becomes a choice for a Manager, who may not list channels.
    await userEvent.selectOptions(screen.getByLabelText("Channel"), closed.channel_id);
    await userEvent.type(screen.getByLabelText("Language"), "nl");
    await userEvent.selectOptions(screen.getByLabelText("Topic"), "Delivery");
    await userEvent.type(screen.getByLabelText("Competence"), "Orders");
    await userEvent.type(screen.getByLabelText("End user (name)"), "Nora");
    await userEvent.type(screen.getByLabelText("Visitor (name)"), "Jan");
    await userEvent.type(screen.getByLabelText("Opened from"), "2026-03-01");
    await userEvent.type(screen.getByLabelText("Opened up to and including"), "2026-03-31");
    await userEvent.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(net.last("GET /v1/history")!.query.get("visitor")).toBe("Jan"));
    const query = net.last("GET /v1/history")!.query;
    expect(Object.fromEntries(query)).toEqual({
      channel_id: closed.channel_id,
      language: "nl",
      topic: "Delivery",
      competence: "Orders",
      end_user: "Nora",
      visitor: "Jan",
      from: "2026-02-28T23:00:00.000Z",
      to: "2026-03-31T22:00:00.000Z",
      sort: "-opened_at",
      offset: "0",
      limit: "25",
    });

    await userEvent.click(screen.getByRole("button", { name: "Sort by Language" }));
    await waitFor(() => expect(net.last("GET /v1/history")!.query.get("sort")).toBe("language"));
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(net.last("GET /v1/history")!.query.get("offset")).toBe("25"));

    await userEvent.click(screen.getByRole("button", { name: "Open conversation: Waar blijft mijn taart?" }));
    const view = await screen.findByRole("region", { name: "Conversation" });
    expect(await within(view).findByText("Ze is onderweg!")).toBeInTheDocument();
    expect(within(view).queryByRole("textbox")).toBeNull();
  }, 20_000);

  it("shows the API's message next to the filter it names and keeps what was typed", async () => {
    const net = network({
      "GET /v1/me": { status: 200, body: me("administrator") },
      "GET /v1/topics": { status: 200, body: page([]) },
      "GET /v1/competences": { status: 200, body: page([]) },
      "GET /v1/channels": { status: 200, body: [] },
      "GET /v1/history": (request) =>
        request.query.get("language")
          ? {
              status: 422,
              body: {
                error: {
                  code: "invalid_request",
                  message: "The request is not valid.",
                  details: [{ loc: ["query", "language"], msg: "String should have at least 2 characters", type: "string_too_short" }],
                },
              },
            }
          : { status: 200, body: page([]) },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<HistoryScreen />);
    await screen.findByText("0 conversations", { exact: false });
    await userEvent.type(screen.getByLabelText("Language"), "n");
    await userEvent.click(screen.getByRole("button", { name: "Search" }));
    expect(await screen.findByText("String should have at least 2 characters")).toBeInTheDocument();
    expect(screen.getByLabelText("Language")).toHaveValue("n");
    expect(screen.getByLabelText("Language")).toHaveAttribute("aria-invalid", "true");
  }, 20_000);
});

describe("startOfDay", () => {
  it("is local midnight of the tenant's zone, summer and winter", () => {
    expect(startOfDay("2026-01-15", "Europe/Brussels")).toBe("2026-01-14T23:00:00.000Z");
    expect(startOfDay("2026-07-15", "Europe/Brussels")).toBe("2026-07-14T22:00:00.000Z");
    expect(startOfDay("2026-03-29", "Europe/Brussels")).toBe("2026-03-28T23:00:00.000Z");
    expect(startOfDay("2026-07-15", "America/New_York")).toBe("2026-07-15T04:00:00.000Z");
  }, 20_000);
});
