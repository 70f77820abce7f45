import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { me, network } from "../history/testing/fixtures";
import StatisticsScreen from "./StatisticsScreen";

const filters = { period_from: "2026-03-01", period_to: "2026-03-31", bucket: "week", channel: null, time_zone: "Europe/Brussels" };
const conversations = {
  report: "conversations",
  filters,
  summary: { conversations: 7, assigned: 5, closed: 4, messages: 30, average_first_response_seconds: 12.5, average_queue_wait_seconds: null, average_handling_seconds: 60 },
  breakdown: [
    { channel_type: "webchat", conversations: 4, assigned: 3, closed: 2, messages: 20, average_first_response_seconds: 10, average_queue_wait_seconds: null, average_handling_seconds: 50 },
    { channel_type: "whatsapp", conversations: 3, assigned: 2, closed: 2, messages: 10, average_first_response_seconds: 15, average_queue_wait_seconds: null, average_handling_seconds: 70 },
  ],
  series: [
    { bucket: "2026-03-02", channel_type: "webchat", conversations: 3 },
    { bucket: "2026-03-02", channel_type: "whatsapp", conversations: 2 },
    { bucket: "2026-03-09", channel_type: "webchat", conversations: 1 },
    { bucket: "2026-03-09", channel_type: "whatsapp", conversations: 1 },
  ],
};
const topics = {
  report: "per-topic",
  filters,
  summary: { conversations: 5 },
  breakdown: [
    { topic: "Delivery", conversations: 3 },
    { topic: "Complaint", conversations: 2 },
  ],
  series: [],
};

/** Numbers drawn on a chart (the labels on its bars). */
function chartNumbers(name: string): string[] {
  const figure = screen.queryByRole("figure", { name });
  if (!figure) return [];
  return Array.from(figure.querySelectorAll(".recharts-label-list text, .chart-value text, text.chart-value"))
    .map((node) => node.textContent ?? "")
    .filter(Boolean);
}

describe("StatisticsScreen", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("shows an Analyst every tab but conversations per end user, and asks for the period in the tenant's zone", async () => {
    const net = network({
      "GET /v1/me": { status: 200, body: me("analyst") },
      "GET /v1/stats/conversations": { status: 200, body: conversations },
      "GET /v1/stats/conversations/per-topic": { status: 200, body: topics },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<StatisticsScreen />);
    expect(await screen.findByRole("tab", { name: "Conversations" })).toBeInTheDocument();
    const tabs = screen.getAllByRole("tab").map((tab) => tab.textContent);
    expect(tabs).toEqual(["Conversations", "Messages", "Topics"]);
    expect(await screen.findByText("Days in time zone Europe/Brussels")).toBeInTheDocument();

    const table = await screen.findByRole("table", { name: "Conversations received per channel" });
    const rows = within(table).getAllByRole("row").slice(1, -1);
    const cells = rows.map((row) => within(row).getAllByRole("cell")[0].textContent);
    expect(cells).toEqual(["4", "3"]);
    await waitFor(() => expect(chartNumbers("Conversations received per channel")).toEqual(["4", "3"]), { timeout: 10_000 });
    // Per bucket: the series summed over the channels, the same in the chart and its table.
    const buckets = screen.getByRole("table", { name: "Conversations per week" });
    expect(within(buckets).getAllByRole("row").slice(1).map((row) => row.textContent)).toEqual(["2026-03-025", "2026-03-092", "Total7"]);
    await waitFor(() => expect(chartNumbers("Conversations per week")).toEqual(["5", "2"]), { timeout: 10_000 });

    const call = net.last("GET /v1/stats/conversations")!;
    expect(call.query.get("bucket")).toBe("day");
    expect(call.query.get("to")).toMatch(/^\d{4}-\d{2}-\d{2}$/);

    await userEvent.selectOptions(screen.getByLabelText("By"), "week");
    await userEvent.click(screen.getByRole("button", { name: "Show" }));
    await waitFor(() => expect(net.last("GET /v1/stats/conversations")!.query.get("bucket")).toBe("week"));
    const csv = screen.getByRole("link", { name: "Export as CSV" });
    expect(csv.getAttribute("href")).toContain("/v1/stats/conversations?");
    expect(csv.getAttribute("href")).toContain("format=csv");
    expect(csv.getAttribute("href")).toContain("bucket=week");

    await userEvent.click(screen.getByRole("tab", { name: "Topics" }));
    const topicTable = await screen.findByRole("table", { name: "Conversations per topic" });
    expect(within(topicTable).getByText("Delivery")).toBeInTheDocument();
    await waitFor(() => expect(chartNumbers("Conversations per topic")).toEqual(["3", "2"]), { timeout: 10_000 });
    expect(net.calls.some((c) => c.path === "/v1/stats/end-users")).toBe(false);
  }, 20_000);

  it("gives a Manager the end-users tab and shows a refused period next to the period", async () => {
    const net = network({
      "GET /v1/me": { status: 200, body: me("manager") },
      "GET /v1/stats/conversations": {
        status: 422,
        body: { error: { code: "invalid_filters", message: "'from' (2026-04-01) is after 'to' (2026-03-01)", details: ["'from' (2026-04-01) is after 'to' (2026-03-01)"] } },
      },
      "GET /v1/stats/end-users": {
        status: 200,
        body: { report: "per-end-user", filters, summary: { conversations: 2, messages_sent: 5 }, breakdown: [{ user_id: "u1", name: "Nora Nederlands", conversations: 2, messages_sent: 5 }], series: [] },
      },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<StatisticsScreen />);
    expect(await screen.findByRole("tab", { name: "End users" })).toBeInTheDocument();
    const from = screen.getByLabelText("From");
    expect(await screen.findByText("'from' (2026-04-01) is after 'to' (2026-03-01)", { selector: ".field-error" })).toBeInTheDocument();
    expect(from).toHaveAttribute("aria-invalid", "true");
    await userEvent.click(screen.getByRole("tab", { name: "End users" }));
    const table = await screen.findByRole("table", { name: "Conversations per end user" });
    expect(within(table).getByText("Nora Nederlands")).toBeInTheDocument();
  }, 20_000);
});
