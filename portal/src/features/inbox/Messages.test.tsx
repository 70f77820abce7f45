import { beforeEach, describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { Messages } from "./Messages";
import type { Message } from "./api";

const at = "2026-12-01T09:00:00Z";
const none = { attachments: [], refused_attachments: [] };

describe("Messages", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("nl");
  });

  it("shows each reply's delivery status, the channel's error and out-of-office notices", () => {
    const messages: Message[] = [
      { message_id: "1", direction: "in", author: "visitor", kind: "text", text: "Hallo?", at, ...none },
      { message_id: "2", direction: "out", author: "system", kind: "text", text: "We zijn gesloten.", at, delivery_status: "delivered", ...none },
      { message_id: "3", direction: "out", author: "agent", kind: "text", text: "Ik kijk het na.", at, delivery_status: "read", ...none },
      {
        message_id: "4",
        direction: "out",
        author: "agent",
        kind: "text",
        text: "Nog iets?",
        at,
        delivery_status: "failed",
        delivery_error: "Outside the 24-hour messaging window",
        ...none,
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

  it("shows a message's files through their links and says why a file was not kept", () => {
    const messages: Message[] = [
      {
        message_id: "5",
        direction: "in",
        author: "visitor",
        kind: "attachment",
        text: "Mijn kapotte tas",
        at,
        attachments: [
          {
            attachment_id: "a1",
            kind: "image",
            file_name: "tas.jpg",
            content_type: "image/jpeg",
            size: 120_000,
            sha256: "0".repeat(64),
            url: "/v1/attachments/a1?part=original",
            thumbnail_url: "/v1/attachments/a1?part=thumbnail",
          },
          {
            attachment_id: "a2",
            kind: "file",
            file_name: "bon.pdf",
            content_type: "application/pdf",
            size: 2048,
            sha256: "1".repeat(64),
            url: "/v1/attachments/a2?part=original",
          },
          {
            attachment_id: "a3",
            kind: "audio",
            file_name: "voice.ogg",
            content_type: "audio/ogg",
            size: 900,
            sha256: "2".repeat(64),
            url: "/v1/attachments/a3?part=original",
          },
        ],
        refused_attachments: [
          { kind: "image", file_name: null, code: "media_expired", reason: "The channel's link to the file has expired" },
        ],
      },
    ];
    renderWithProviders(<Messages messages={messages} />);
    const files = within(screen.getByRole("list", { name: "Bijlagen" })).getAllByRole("listitem");
    expect(files).toHaveLength(4);
    const image = screen.getByRole("img", { name: "tas.jpg" });
    expect(image).toHaveAttribute("src", "/v1/attachments/a1?part=thumbnail");
    expect(image.closest("a")).toHaveAttribute("href", "/v1/attachments/a1?part=original");
    const pdf = screen.getByRole("link", { name: "bon.pdf (2 KB)" });
    expect(pdf).toHaveAttribute("download", "bon.pdf");
    expect(files[2].querySelector("audio")).toHaveAttribute("src", "/v1/attachments/a3?part=original");
    expect(files[3]).toHaveTextContent("Niet bewaard: image — The channel's link to the file has expired");
  });
});
