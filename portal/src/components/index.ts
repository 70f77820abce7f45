export { Field } from "./Field";
export { FormError } from "./FormError";
export { Loading, Failed } from "./Status";
export { useDateTime } from "./time";
export { useLanguageName } from "./languageName";
