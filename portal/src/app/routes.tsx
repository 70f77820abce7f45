/**
 * Every route of the Portal, in this one place. Public pages (sign in, password links) first;
 * everything else needs a session and sits in the shell; each feature found by `registry.ts`
 * gets `/<path>/*`, guarded by its access function.
 */
import { lazy, Suspense, useEffect, useRef, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import { useQueryClient } from "@tanstack/react-query";
import { onUnauthorized } from "../api/client";
import { Failed, Loading } from "../components";
import { languageFor } from "./i18n";
import { features } from "./registry";
import { allowedFeatures, Shell } from "./Shell";
import { may, SESSION_KEY, useSession } from "./session";

const SignIn = lazy(() => import("../features/auth/SignIn"));
const ForgotPassword = lazy(() => import("../features/auth/ForgotPassword"));
const ResetPassword = lazy(() => import("../features/auth/ResetPassword"));

/** Pages that need a session send a visitor without one to the sign-in page, and back after. */
function RequireSession({ children }: { children: ReactNode }) {
  const { data: session, isPending, error, refetch } = useSession();
  const { i18n } = useTranslation();
  const location = useLocation();
  const client = useQueryClient();
  // Set when a call answers 401 while one works (expired, or signed out elsewhere): the
  // sign-in page then says so, and brings one back here afterwards.
  const expired = useRef(false);
  useEffect(
    () =>
      onUnauthorized(() => {
        // Only a session one had can expire; a first visit without one just signs in.
        if (client.getQueryData(SESSION_KEY)) expired.current = true;
        client.setQueryData(SESSION_KEY, null);
      }),
    [client],
  );
  useEffect(() => {
    if (session) {
      const language = languageFor(session.language, session.default_language);
      if (i18n.language !== language) void i18n.changeLanguage(language);
    }
  }, [session, i18n]);
  if (isPending) return <Loading />;
  if (error) return <Failed error={error} retry={() => void refetch()} />;
  if (!session) {
    const next = encodeURIComponent(`${location.pathname}${location.search}`);
    const why = expired.current ? "expired=1&" : "";
    return <Navigate to={`/sign-in?${why}next=${next}`} replace />;
  }
  return <>{children}</>;
}

function Home() {
  const { data: session } = useSession();
  const { t } = useTranslation("app");
  const first = allowedFeatures(session).find((feature) => feature.nav !== false);
  return first ? <Navigate to={`/${first.path}`} replace /> : <p>{t("nothingHere")}</p>;
}

function Guard({ access, children }: { access: string; children: ReactNode }) {
  const { data: session } = useSession();
  const { t } = useTranslation("app");
  return may(session, access) ? <>{children}</> : <p role="alert">{t("notAllowed")}</p>;
}

function NotFound() {
  const { t } = useTranslation("app");
  return <p role="alert">{t("notFound")}</p>;
}

export function AppRoutes() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/sign-in" element={<SignIn />} />
        <Route path="/forgot-password" element={<ForgotPassword />} />
        <Route path="/reset-password" element={<ResetPassword />} />
        <Route
          element={
            <RequireSession>
              <Shell />
            </RequireSession>
          }
        >
          <Route index element={<Home />} />
          {features.map((feature) => (
            <Route
              key={feature.id}
              path={`${feature.path}/*`}
              element={
                <Guard access={feature.access}>
                  <feature.element />
                </Guard>
              }
            />
          ))}
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
