import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import i18n from "../../app/i18n";
import { fakeFetch, renderWithProviders } from "../../test/render";
import SignIn from "./SignIn";

describe("SignIn", () => {
  beforeEach(async () => {
    await i18n.changeLanguage("en");
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.cookie = "interact_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  });

  it("asks for a cookie session and says the same for every failed login", async () => {
    const { fetcher, calls } = fakeFetch({
      "POST /v1/auth/login": {
        status: 401,
        body: { error: { code: "login_failed", message: "The email or password is not right." } },
      },
    });
    vi.stubGlobal("fetch", fetcher);
    renderWithProviders(<SignIn />, { route: "/sign-in" });
    await userEvent.type(screen.getByLabelText("Email address"), "nobody@demo.example");
    await userEvent.type(screen.getByLabelText("Password"), "wrong-password");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("locked after 5 wrong attempts");
    const body = await calls[0].clone().json();
    expect(body).toEqual({
      email: "nobody@demo.example",
      password: "wrong-password",
      session: "cookie",
    });
  });

  it("puts a 422's message next to the field it names and sends the CSRF header", async () => {
    document.cookie = "interact_csrf=abc123";
    const { fetcher, calls } = fakeFetch({
      "POST /v1/auth/login": {
        status: 422,
        body: {
          error: {
            code: "invalid_request",
            message: "The request is not valid.",
            details: [{ loc: ["body", "email"], msg: "value is not a valid email address" }],
          },
        },
      },
    });
    vi.stubGlobal("fetch", fetcher);
    renderWithProviders(
      <Routes>
        <Route path="/sign-in" element={<SignIn />} />
      </Routes>,
      { route: "/sign-in" },
    );
    await userEvent.type(screen.getByLabelText("Email address"), "not-an-email");
    await userEvent.type(screen.getByLabelText("Password"), "x");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    const email = screen.getByLabelText("Email address");
    expect(await screen.findByText("value is not a valid email address")).toBeInTheDocument();
    expect(email).toHaveAttribute("aria-invalid", "true");
    expect(calls[0].headers.get("X-CSRF-Token")).toBe("abc123");
  });
});
