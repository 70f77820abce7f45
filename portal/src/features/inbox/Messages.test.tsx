import { beforeEach, describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { Messages } from "./Messages";
import type { Message } from "./api";

const at = "2026-12-01T09:00:00Z";

describe("Messages", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("nl");
  });

  it("shows each reply's delivery status, the channel's error and out-of-office notices", () => {
    const messages: Message[] = [
      { message_id: "1", direction: "in", author: "visitor", kind: "text", text: "Hallo?", at },
      { message_id: "2", direction: "out", author: "system", kind: "text", text: "We zijn gesloten.", at, delivery_status: "delivered" },
      { message_id: "3", direction: "out", author: "agent", kind: "text", text: "Ik kijk het na.", at, delivery_status: "read" },
      {
        message_id: "4",
        direction: "out",
        author: "agent",
        kind: "text",
        text: "Nog iets?",
        at,
        delivery_status: "failed",
        delivery_error: "Outside the 24-hour messaging window",
      },
    ];
    renderWithProviders(<Messages messages={messages} />);
    const items = within(screen.getByRole("list", { name: "Berichten" })).getAllByRole("listitem");
    expect(items).toHaveLength(4);
    expect(items[0]).toHaveTextContent("Bezoeker");
    expect(items[1]).toHaveTextContent("Automatisch bericht buiten de openingsuren");
    expect(items[2]).toHaveTextContent("Gelezen");
    expect(items[3]).toHaveTextContent("Mislukt: Outside the 24-hour messaging window");
    expect(items[0].querySelector(".delivery")).toBeNull();
  });
});
