import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { fakeFetch, renderWithProviders } from "../../test/render";
import { VisitorPanel } from "./VisitorPanel";

function me(role: string, functions: string[]) {
  return {
    user_id: "u1",
    first_name: "Ada",
    last_name: "Admin",
    email: "admin@demo.example",
    role,
    language: "en",
    presence: "online",
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

function visitor(erased: boolean) {
  return {
    visitor_id: "v1",
    channel_id: "ch1",
    external_id: erased ? "[erased]" : "web-123",
    name: erased ? null : "Vera Visitor",
    first_name: null,
    last_name: null,
    email: erased ? null : "vera@mail.example",
    birth_date: null,
    phone: null,
    mobile: null,
    bot_paused: false,
    erased_at: erased ? "2026-12-01T10:00:00Z" : null,
    earlier_conversations: [],
  };
}

describe("Erasing a visitor", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it("erases only after the confirmation, then shows the visitor as erased", async () => {
    let erased = false;
    const { fetcher, calls } = fakeFetch({
      "GET /v1/me": { status: 200, body: me("administrator", ["administration", "conversations"]) },
    });
    vi.stubGlobal("fetch", async (input: Request) => {
      const path = new URL(input.url).pathname;
      if (input.method === "POST" && path === "/v1/visitors/v1/erasure") {
        calls.push(input);
        erased = true;
        return new Response(
          JSON.stringify({ visitor_id: "v1", conversation_ids: ["c1"], keys_destroyed: 2, complete: true }),
          { status: 200, headers: { "content-type": "application/json" } },
        );
      }
      if (path === "/v1/visitors/v1") {
        return new Response(JSON.stringify(visitor(erased)), {
          status: 200,
          headers: { "content-type": "application/json" },
        });
      }
      return fetcher(input);
    });
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    renderWithProviders(<VisitorPanel visitorId="v1" conversationId="c1" />);
    const button = await screen.findByRole("button", { name: "Erase the visitor" });

    await userEvent.click(button);
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(calls.filter((r) => r.method === "POST")).toHaveLength(0);

    await userEvent.click(button);
    await waitFor(() => expect(calls.filter((r) => r.method === "POST")).toHaveLength(1));
    expect(await screen.findByRole("status")).toHaveTextContent("Erased");
    expect(screen.queryByRole("button", { name: "Erase the visitor" })).toBeNull();
  });

  it("offers no erasure to an Agent", async () => {
    const { fetcher } = fakeFetch({
      "GET /v1/me": { status: 200, body: me("agent", ["conversations"]) },
      "GET /v1/visitors/v1": { status: 200, body: visitor(false) },
    });
    vi.stubGlobal("fetch", fetcher);
    renderWithProviders(<VisitorPanel visitorId="v1" conversationId="c1" />);
    expect(await screen.findByRole("button", { name: "Save the profile" })).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole("button", { name: "Erase the visitor" })).toBeNull());
  });
});
