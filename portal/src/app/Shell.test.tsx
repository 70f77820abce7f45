import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import { Route, Routes } from "react-router";
import i18n from "./i18n";
import { fakeFetch, renderWithProviders } from "../test/render";
import { Shell } from "./Shell";

function me(role: string, functions: string[]) {
  return {
    user_id: "u1",
    first_name: "Ann",
    last_name: "Lyst",
    email: "ann@demo.example",
    role,
    language: "en",
    presence: "offline",
    tenant_id: "t1",
    tenant_name: "Demo Bakery",
    plan: "pro",
    sdk_option: true,
    default_language: "nl",
    time_zone: "Europe/Brussels",
    functions,
    expires_at: "2030-01-01T00:00:00Z",
  };
}

describe("Shell", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("shows only what the session's functions allow, and presence only to handlers", async () => {
    const analyst = fakeFetch({ "GET /v1/me": { status: 200, body: me("analyst", ["statistics", "faq", "self"]) } });
    vi.stubGlobal("fetch", analyst.fetcher);
    const { unmount } = renderWithProviders(
      <Routes>
        <Route path="*" element={<Shell />} />
      </Routes>,
    );
    expect(await screen.findByText(/Ann Lyst/)).toBeInTheDocument();
    const nav = screen.getByRole("navigation");
    expect(nav).not.toHaveTextContent("Inbox");
    expect(screen.queryByRole("group", { name: "Availability" })).toBeNull();
    unmount();

    const agent = fakeFetch({
      "GET /v1/me": { status: 200, body: me("agent", ["conversations", "faq", "chatbot.handover", "self"]) },
    });
    vi.stubGlobal("fetch", agent.fetcher);
    renderWithProviders(
      <Routes>
        <Route path="*" element={<Shell />} />
      </Routes>,
    );
    expect(await screen.findByRole("link", { name: "Inbox" })).toHaveAttribute("href", "/inbox");
    expect(screen.getByRole("group", { name: "Availability" })).toBeInTheDocument();
    expect(screen.getByRole("radio", { name: "Offline" })).toBeChecked();
  });
});
