/**
 * Sign in with a session cookie (`"session": "cookie"`): the token never reaches page scripts.
 * A wrong password, an unknown address and a locked account answer alike (401 `login_failed`),
 * so the page says the same for all three: it never tells whether an address exists.
 */
import { useState } from "react";
import { useForm } from "react-hook-form";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { useQueryClient } from "@tanstack/react-query";
import { ApiError, api, fieldErrors, unwrap } from "../../api/client";
import { Field, FormError } from "../../components";
import { SESSION_KEY } from "../../app/session";
import { LanguagePicker } from "./LanguagePicker";

interface Form {
  email: string;
  password: string;
}

/** Where to go after signing in: only a path on this site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export default function SignIn() {
  const { t } = useTranslation("auth");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [formError, setFormError] = useState<string>();
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors, isSubmitting },
  } = useForm<Form>();

  const submit = handleSubmit(async ({ email, password }) => {
    setFormError(undefined);
    try {
      await unwrap(api.POST("/v1/auth/login", { body: { email, password, session: "cookie" } }));
      await client.invalidateQueries({ queryKey: SESSION_KEY });
      navigate(safeNext(params.get("next")), { replace: true });
    } catch (error) {
      if (error instanceof ApiError && error.code === "login_failed") {
        setFormError(t("failed"));
      } else if (error instanceof ApiError && error.code === "rate_limited") {
        setFormError(t("rateLimited"));
      } else {
        const { fields, form } = fieldErrors(error);
        for (const [name, message] of Object.entries(fields)) {
          if (name === "email" || name === "password") setError(name, { message });
        }
        setFormError(form);
      }
    }
  });

  return (
    <main className="auth-page">
      <LanguagePicker />
      <h1>{t("signIn")}</h1>
      {params.get("expired") !== null && !formError && (
        <p className="notice" role="status">
          {t("expired")}
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <Field label={t("email")} error={errors.email?.message}>
          <input type="email" autoComplete="username" {...register("email", { required: t("required") })} />
        </Field>
        <Field label={t("password")} error={errors.password?.message}>
          <input
            type="password"
            autoComplete="current-password"
            {...register("password", { required: t("required") })}
          />
        </Field>
        <FormError message={formError} />
        <button type="submit" disabled={isSubmitting}>
          {t("submit")}
        </button>
      </form>
      <div className="links">
        <Link to="/forgot-password">{t("forgot")}</Link>
      </div>
    </main>
  );
}
