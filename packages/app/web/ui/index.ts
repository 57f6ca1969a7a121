/** Shared UI for every screen: fields and their parsing, errors, progress, countdowns. */
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
export { type Parsed, parseExpiry, parseKeyInput, toLocalInput } from './inputs.js';
