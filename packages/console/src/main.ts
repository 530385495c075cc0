import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { HeraldConsole } from './app.ts';
import { HcChart } from './chart.ts';
import { HcOverview } from './overview.ts';
import { HcApps } from './apps.ts';
import { HcUsers, HcUser } from './users.ts';
import { HcNotification } from './notification.ts';
import { HcDeadLetters } from './dead-letters.ts';
import { HcTemplates, HcTemplate } from './templates.ts';
import { HcTopics, HcTopic } from './topics.ts';

// Pages first, the shell last: its first render then finds every page defined.
customElements.define('hc-chart', HcChart);
customElements.define('hc-overview', HcOverview);
customElements.define('hc-apps', HcApps);
customElements.define('hc-users', HcUsers);
customElements.define('hc-user', HcUser);
customElements.define('hc-notification', HcNotification);
customElements.define('hc-dead-letters', HcDeadLetters);
customElements.define('hc-templates', HcTemplates);
customElements.define('hc-template', HcTemplate);
customElements.define('hc-topics', HcTopics);
customElements.define('hc-topic', HcTopic);
customElements.define('herald-console', HeraldConsole);
