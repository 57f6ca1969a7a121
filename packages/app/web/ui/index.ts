/** Shared UI for every screen: fields, errors, progress, countdowns, downloads. */
export {
  CheckboxField,
  type ControlProps,
  Countdown,
  ErrorBox,
  Field,
  KeyField,
  NeedsKey,
  Notice,
  Panel,
  Progress,
  SelectField,
  TableHead,
  TextField,
} from './components.js';
export { downloadJson, downloadText } from './download.js';
export { type ErrorExplanation, explainError } from './errors.js';
export { formatDuration, formatTime, shortKey } from './format.js';
export { type Action, useAction, useAddForm, useNow } from './hooks.js';
