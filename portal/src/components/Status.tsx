import { useTranslation } from "react-i18next";

export function Loading() {
  const { t } = useTranslation("app");
  return (
    <p className="loading" role="status">
      {t("loading")}
    </p>
  );
}

export function Failed({ error, retry }: { error: unknown; retry?: () => void }) {
  const { t } = useTranslation("app");
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="failed" role="alert">
      <p>{t("failed", { message })}</p>
      {retry && (
        <button type="button" onClick={retry}>
          {t("retry")}
        </button>
      )}
    </div>
  );
}
