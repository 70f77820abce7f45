import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import i18n from "../app/i18n";
import { fakeFetch, renderWithProviders } from "../test/render";
import { useDateTime } from "./time";

function When({ at, compact }: { at: string; compact?: boolean }) {
  const when = useDateTime({ compact });
  return <span data-testid="when">{when(at)}</span>;
}

describe("useDateTime", () => {
  beforeEach(async () => {
    vi.stubGlobal("fetch", fakeFetch({ "GET /v1/me": { status: 401 } }).fetcher);
    await i18n.changeLanguage("nl");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("shows date and time, in the Portal's language", () => {
    renderWithProviders(<When at="2026-03-04T09:05:00Z" />);
    const text = screen.getByTestId("when").textContent ?? "";
    expect(text).toContain("04-03-2026");
    expect(text).toMatch(/\d{2}:05/);
  });

  it("compact, for the queue: only the time today, only the date on another day", () => {
    const now = new Date();
    const { unmount } = renderWithProviders(<When compact at={now.toISOString()} />);
    const today = screen.getByTestId("when").textContent ?? "";
    expect(today).toMatch(/^\d{2}:\d{2}$/);
    unmount();
    renderWithProviders(<When compact at="2020-03-04T09:05:00Z" />);
    expect(screen.getByTestId("when").textContent).toBe("04-03-2020");
  });
});
