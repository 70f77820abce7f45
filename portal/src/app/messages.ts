/** The shell's own texts (namespace `app`). Features keep theirs in their own `i18n.ts`. */
import type { FeatureMessages } from "./feature";

const messages: FeatureMessages = {
  nl: {
    product: "Interact",
    navigation: "Navigatie",
    skipToContent: "Naar de inhoud",
    signOut: "Afmelden",
    language: "Taal",
    presence: { label: "Beschikbaarheid", online: "Online", away: "Afwezig", offline: "Offline" },
    notAllowed: "Je rol of het abonnement van je organisatie laat dit scherm niet toe.",
    notFound: "Deze pagina bestaat niet.",
    loading: "Laden…",
    failed: "Er ging iets mis: {{message}}",
    retry: "Opnieuw proberen",
    nothingHere: "Er is voor jou nog geen scherm.",
  },
  fr: {
    product: "Interact",
    navigation: "Navigation",
    skipToContent: "Aller au contenu",
    signOut: "Se déconnecter",
    language: "Langue",
    presence: { label: "Disponibilité", online: "En ligne", away: "Absent", offline: "Hors ligne" },
    notAllowed: "Votre rôle ou la formule de votre organisation ne permet pas cet écran.",
    notFound: "Cette page n'existe pas.",
    loading: "Chargement…",
    failed: "Un problème est survenu : {{message}}",
    retry: "Réessayer",
    nothingHere: "Aucun écran pour vous pour l'instant.",
  },
  en: {
    product: "Interact",
    navigation: "Navigation",
    skipToContent: "Skip to content",
    signOut: "Sign out",
    language: "Language",
    presence: { label: "Availability", online: "Online", away: "Away", offline: "Offline" },
    notAllowed: "Your role or your organisation's plan does not allow this screen.",
    notFound: "This page does not exist.",
    loading: "Loading…",
    failed: "Something went wrong: {{message}}",
    retry: "Try again",
    nothingHere: "There is no screen for you yet.",
  },
};

export default messages;
