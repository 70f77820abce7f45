import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../../app/i18n";
import { renderWithProviders } from "../../test/render";
import { ReplyBox } from "./ReplyBox";

describe("ReplyBox", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("keeps the text when sending fails and retries with the same client_message_id", async () => {
    const bodies: { text: string; client_message_id: string }[] = [];
    let fail = true;
    vi.stubGlobal("fetch", async (request: Request) => {
      if (request.method === "POST") {
        bodies.push(await request.clone().json());
        if (fail) {
          return new Response(
            JSON.stringify({ error: { code: "upstream_unavailable", message: "The conversation service does not answer; retry." } }),
            { status: 502, headers: { "content-type": "application/json" } },
          );
        }
        return new Response(JSON.stringify({ message_id: "m1" }), {
          status: 201,
          headers: { "content-type": "application/json" },
        });
      }
      return new Response(JSON.stringify({}), { status: 200, headers: { "content-type": "application/json" } });
    });
    renderWithProviders(<ReplyBox conversationId="c1" />);
    const box = screen.getByLabelText("Reply");
    await userEvent.type(box, "Your order left today.");
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("does not answer; retry.");
    expect(box).toHaveValue("Your order left today.");

    fail = false;
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(box).toHaveValue(""));
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[0].client_message_id).toBeTruthy();

    // The next reply is a new one.
    await userEvent.type(box, "Anything else?");
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(bodies).toHaveLength(3));
    expect(bodies[2].client_message_id).not.toBe(bodies[0].client_message_id);
  });

  it("uploads a chosen file once, then sends the reply naming it", async () => {
    const calls: { url: string; type: string | null; body: unknown }[] = [];
    vi.stubGlobal("fetch", async (request: Request) => {
      if (request.method === "POST" && request.url.includes("/attachments")) {
        calls.push({ url: request.url, type: request.headers.get("content-type"), body: await request.clone().text() });
        return new Response(JSON.stringify({ attachment_id: "att-1", kind: "image", file_name: "map.png" }), {
          status: 201,
          headers: { "content-type": "application/json" },
        });
      }
      if (request.method === "POST") {
        calls.push({ url: request.url, type: request.headers.get("content-type"), body: await request.clone().json() });
        return new Response(JSON.stringify({ message_id: "m2" }), { status: 201, headers: { "content-type": "application/json" } });
      }
      return new Response(JSON.stringify({}), { status: 200, headers: { "content-type": "application/json" } });
    });
    renderWithProviders(<ReplyBox conversationId="c1" />);
    const file = new File(["PNG-BYTES"], "map.png", { type: "image/png" });
    await userEvent.upload(screen.getByLabelText("Attach a file"), file);
    expect(screen.getByRole("list", { name: "Attachments" })).toHaveTextContent("map.png");
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls[0].url).toContain("/v1/conversations/c1/attachments?file_name=map.png");
    expect(calls[0].type).toBe("application/octet-stream");
    expect(calls[0].body).toBe("PNG-BYTES");
    expect(calls[1].url).toContain("/v1/conversations/c1/messages");
    expect(calls[1].body).toMatchObject({ text: "", attachment_ids: ["att-1"] });
    await waitFor(() => expect(screen.queryByRole("list", { name: "Attachments" })).toBeNull());
  });
});
