// Every shell command, one import each. To add a command: write shell/commands/NAME.ts
// (it calls registerCommand at its top level) and add its import here.
import "./date";
import "./debug";
import "./echo";
import "./fs";
import "./help";
import "./history";
import "./llmctl";
import "./log";
import "./mem";
import "./power";
import "./sha256sum";
import "./uptime";
import "./version";
