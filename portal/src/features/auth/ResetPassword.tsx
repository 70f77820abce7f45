/**
 * The page our mails link to (`PUBLIC_BASE_URL/reset-password?token=...`): the first password
 * of an invited colleague, or a new one after "forgot password" (which also unlocks).
 */
import { useState } from "react";
import { useForm } from "react-hook-form";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { ApiError, api, fieldErrors, unwrap } from "../../api/client";
import { Field, FormError } from "../../components";
import { LanguagePicker } from "./LanguagePicker";

interface Form {
  password: string;
  repeat: string;
}

export default function ResetPassword() {
  const { t } = useTranslation("auth");
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [saved, setSaved] = useState(false);
  const [formError, setFormError] = useState<string>();
  const {
    register,
    handleSubmit,
    setError,
    getValues,
    formState: { errors, isSubmitting },
  } = useForm<Form>();
  const submit = handleSubmit(async ({ password }) => {
    setFormError(undefined);
    try {
      await unwrap(api.POST("/v1/auth/reset-password", { body: { token, password } }));
      setSaved(true);
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_reset_token") {
        setFormError(t("invalidLink"));
        return;
      }
      const { fields, form } = fieldErrors(error);
      if (fields.password) setError("password", { message: fields.password });
      setFormError(fields.token ? (form ? `${form} ${fields.token}` : fields.token) : form);
    }
  });
  return (
    <main className="auth-page">
      <LanguagePicker />
      <h1>{t("resetTitle")}</h1>
      {!token ? (
        <p role="alert">{t("noToken")}</p>
      ) : saved ? (
        <p role="status" className="ok">
          {t("saved")}
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <p>{t("resetIntro")}</p>
          <Field label={t("newPassword")} error={errors.password?.message}>
            <input
              type="password"
              autoComplete="new-password"
              {...register("password", {
                required: t("tooShort"),
                minLength: { value: 8, message: t("tooShort") },
              })}
            />
          </Field>
          <Field label={t("repeat")} error={errors.repeat?.message}>
            <input
              type="password"
              autoComplete="new-password"
              {...register("repeat", {
                validate: (value) => value === getValues("password") || t("mismatch"),
              })}
            />
          </Field>
          <FormError message={formError} />
          <button type="submit" disabled={isSubmitting}>
            {t("save")}
          </button>
        </form>
      )}
      <div className="links">
        <Link to="/sign-in">{saved ? t("signIn") : t("back")}</Link>
        {!saved && <Link to="/forgot-password">{t("forgot")}</Link>}
      </div>
    </main>
  );
}
