/** Ask a password link. The answer is the same whether or not the address is known. */
import { useState } from "react";
import { useForm } from "react-hook-form";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api, fieldErrors, unwrap } from "../../api/client";
import { Field, FormError } from "../../components";
import { LanguagePicker } from "./LanguagePicker";

export default function ForgotPassword() {
  const { t } = useTranslation("auth");
  const [sent, setSent] = useState(false);
  const [formError, setFormError] = useState<string>();
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors, isSubmitting },
  } = useForm<{ email: string }>();
  const submit = handleSubmit(async ({ email }) => {
    setFormError(undefined);
    try {
      await unwrap(api.POST("/v1/auth/forgot-password", { body: { email } }));
      setSent(true);
    } catch (error) {
      const { fields, form } = fieldErrors(error);
      if (fields.email) setError("email", { message: fields.email });
      setFormError(form);
    }
  });
  return (
    <main className="auth-page">
      <LanguagePicker />
      <h1>{t("forgotTitle")}</h1>
      {sent ? (
        <p role="status" className="ok">
          {t("sent")}
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <p>{t("forgotIntro")}</p>
          <Field label={t("email")} error={errors.email?.message}>
            <input type="email" autoComplete="email" {...register("email", { required: t("required") })} />
          </Field>
          <FormError message={formError} />
          <button type="submit" disabled={isSubmitting}>
            {t("send")}
          </button>
        </form>
      )}
      <div className="links">
        <Link to="/sign-in">{t("back")}</Link>
      </div>
    </main>
  );
}
