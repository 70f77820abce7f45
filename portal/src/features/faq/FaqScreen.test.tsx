import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { network, page } from "../history/testing/fixtures";
import FaqScreen from "./FaqScreen";

describe("FaqScreen", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("nl");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("searches on the server and shows the questions, in Dutch", async () => {
    const all = [
      { id: "1", question: "Hoe koppel ik WhatsApp?", answer: "Via Beheer, Kanalen." },
      { id: "2", question: "Wat is een competentie?", answer: "Een vaardigheid." },
    ];
    const net = network({
      "GET /v1/faq": (request) => {
        const q = request.query.get("q");
        return { status: 200, body: page(q ? all.filter((e) => e.question.toLowerCase().includes(q.toLowerCase())) : all) };
      },
    });
    vi.stubGlobal("fetch", net.fetcher);
    renderWithProviders(<FaqScreen />);
    expect(await screen.findByRole("heading", { name: "Veelgestelde vragen" })).toBeInTheDocument();
    expect(await screen.findByText("Wat is een competentie?")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Zoeken in de FAQ"), "whatsapp");
    await userEvent.click(screen.getByRole("button", { name: "Zoeken" }));
    await waitFor(() => expect(screen.queryByText("Wat is een competentie?")).toBeNull());
    expect(screen.getByText("Via Beheer, Kanalen.")).toBeInTheDocument();
    expect(net.last("GET /v1/faq")!.query.get("q")).toBe("whatsapp");
  });
});
