import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, screen } from "@testing-library/react";
import i18n from "./i18n";
import { api } from "../api/client";
import { fakeFetch, renderWithProviders } from "../test/render";
import { AppRoutes } from "./routes";

const nora = {
  user_id: "u1",
  first_name: "Nora",
  last_name: "Nederlands",
  email: "nora@demo.example",
  role: "agent",
  language: "en",
  presence: "online",
  tenant_id: "t1",
  tenant_name: "Demo Bakery",
  plan: "pro",
  sdk_option: true,
  default_language: "nl",
  time_zone: "Europe/Brussels",
  functions: ["faq", "self"],
  expires_at: "2030-01-01T00:00:00Z",
};

describe("a session that ends while one works", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("goes back to sign-in saying the session expired, to return where one was", async () => {
    const { fetcher } = fakeFetch({
      "GET /v1/me": { status: 200, body: nora },
      "GET /v1/queue": {
        status: 401,
        body: { error: { code: "unauthenticated", message: "Sign in first." } },
      },
    });
    vi.stubGlobal("fetch", fetcher);
    renderWithProviders(<AppRoutes />, { route: "/faq?q=open" });
    expect(await screen.findByText(/Nora Nederlands/)).toBeInTheDocument();

    await act(async () => {
      await api.GET("/v1/queue");
    });

    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Your session has expired");
    expect(screen.queryByText(/Nora Nederlands/)).toBeNull();
  });

  it("says nothing of expiry to someone who was not signed in", async () => {
    const { fetcher } = fakeFetch({
      "GET /v1/me": {
        status: 401,
        body: { error: { code: "unauthenticated", message: "Sign in first." } },
      },
    });
    vi.stubGlobal("fetch", fetcher);
    renderWithProviders(<AppRoutes />, { route: "/faq" });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.queryByRole("status")).toBeNull();
  });
});
