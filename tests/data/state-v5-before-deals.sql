-- A crmseg state (SQLite, schema version 5) written by crmseg at commit 927b905, the last before
-- issue 16 added deals (schema 6): a csv sync of the first 12 accounts of examples/accounts.csv,
-- run 1, then employees set to 5000 for acc-000002..acc-000004, run 2 (sqlite3 iterdump).
-- tests/test_state_v5_file.py upgrades it with today's crmseg.
BEGIN TRANSACTION;
CREATE TABLE accounts (
            sync TEXT NOT NULL, account TEXT NOT NULL, data TEXT NOT NULL,
            present INTEGER NOT NULL DEFAULT 1, seen_run INTEGER NOT NULL,
            PRIMARY KEY (sync, account));
INSERT INTO "accounts" VALUES('demo','acc-000001','{"id": "acc-000001", "name": "Summitforge Systems", "domain": "", "industry": "software", "employees": "60", "annual_revenue": "7955000", "country": "UK", "state": "Scotland", "city": "Edinburgh", "type": "Prospect", "owner": "Chen Wei", "created_at": "2021-02-25T12:02:47Z", "updated_at": "2026-07-27T09:12:30Z", "tech_stack": "HubSpot;Snowflake;Slack", "intent_score": "85", "web_visits_30d": "59", "last_activity_at": "2026-10-30T11:18:18Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "subscriber", "crmseg_segment": "Digital Native", "crmseg_tier": "Tier 1", "crmseg_stage": "MQA", "crmseg_icp_score": 85, "crmseg_pin": "false"}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000002','{"id": "acc-000002", "name": "Ironforge Cloud LLC", "domain": "ironforge.com", "industry": "Computer Software", "employees": "5000", "annual_revenue": "5,462,841,000.00", "country": "U.S.", "state": "IL", "city": "Chicago", "type": "Partner", "owner": "Lukas Schmidt", "created_at": "2024-02-22T06:04:16Z", "updated_at": "2026-09-26T16:12:08Z", "tech_stack": "Salesforce", "intent_score": "4", "web_visits_30d": "3", "last_activity_at": "2026-02-10T21:47:17Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "No", "customer_since": "", "lifecycle_stage": "lead", "crmseg_segment": "Enterprise", "crmseg_tier": "Tier 2", "crmseg_stage": "Aware", "crmseg_icp_score": 50, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000003','{"id": "acc-000003", "name": "Northlight Analytics B.V.", "domain": "", "industry": "Software", "employees": "5000", "annual_revenue": "", "country": "Holland", "state": "South Holland", "city": "Rotterdam", "type": "Prospect", "owner": "Alex Morgan", "created_at": "2021-06-22T19:31:38Z", "updated_at": "2026-09-01T10:24:08Z", "tech_stack": "AWS;Slack", "intent_score": "13", "web_visits_30d": "0", "last_activity_at": "2025-10-27T20:58:25Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "marketingqualifiedlead", "crmseg_segment": "Enterprise", "crmseg_tier": "Tier 3", "crmseg_stage": "Qualified", "crmseg_icp_score": 40, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000004','{"id": "acc-000004", "name": "Redleaf Capital AG", "domain": "redleafcapital.de", "industry": "Banking", "employees": "5000", "annual_revenue": "593000", "country": "Germany", "state": "Hamburg", "city": "Hamburg", "type": "Reseller", "owner": "Maria Garcia", "created_at": "2024-03-10T05:17:38Z", "updated_at": "2026-09-12T07:25:47Z", "tech_stack": "Salesforce;Segment;Slack", "intent_score": "0", "web_visits_30d": "0", "last_activity_at": "2025-11-05T08:57:36Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "No", "customer_since": "", "lifecycle_stage": "lead", "crmseg_segment": "Enterprise", "crmseg_tier": "Tier 2", "crmseg_stage": "Qualified", "crmseg_icp_score": 60, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000005','{"id": "acc-000005", "name": "Greenstone Systems Inc.", "domain": "greenstone.ca", "industry": "Software", "employees": "21", "annual_revenue": "3,301,000.00", "country": "CA", "state": "QC", "city": "Montr\u00e9al", "type": "Customer", "owner": "Noah Williams", "created_at": "2022-01-27T02:03:11Z", "updated_at": "2026-09-12T06:09:30Z", "tech_stack": "Microsoft Dynamics;Segment;Slack", "intent_score": "0", "web_visits_30d": "0", "last_activity_at": "2025-10-05T18:18:10Z", "open_opportunities": "0", "won_opportunities": "3", "is_customer": "Yes", "customer_since": "2025-06-02", "lifecycle_stage": "customer", "crmseg_segment": "Digital Native", "crmseg_tier": "Tier 3", "crmseg_stage": "Post-sale", "crmseg_icp_score": 40, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000006','{"id": "acc-000006", "name": "Coralbridge Works LLC", "domain": "coralbridgeworks.com", "industry": "Manufacturing", "employees": "8", "annual_revenue": "1,633,000.00", "country": "US", "state": "MA", "city": "Cambridge", "type": "Prospect", "owner": "Lukas Schmidt", "created_at": "2025-04-23T12:38:39Z", "updated_at": "2026-09-11T11:33:42Z", "tech_stack": "Microsoft Dynamics; Snowflake; SAP", "intent_score": "3", "web_visits_30d": "2", "last_activity_at": "2026-01-18T08:38:35Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "lead", "crmseg_segment": "SMB", "crmseg_tier": "Tier 3", "crmseg_stage": "Aware", "crmseg_icp_score": "7", "crmseg_pin": "true"}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000007','{"id": "acc-000007", "name": "Crescentleaf Holdings", "domain": "", "industry": "", "employees": "32", "annual_revenue": "6102000", "country": "GB", "state": "Scotland", "city": "Edinburgh", "type": "Reseller", "owner": "Lukas Schmidt", "created_at": "2021-01-10T00:38:24Z", "updated_at": "2026-07-26T08:23:17Z", "tech_stack": "Salesforce;AWS", "intent_score": "79", "web_visits_30d": "40", "last_activity_at": "2026-09-19T07:09:05Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "subscriber", "crmseg_segment": "SMB", "crmseg_tier": "Tier 2", "crmseg_stage": "MQA", "crmseg_icp_score": 50, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000008','{"id": "acc-000008", "name": "Harborwave Analytics GmbH", "domain": "harborwaveanalytics.io", "industry": "software", "employees": "5", "annual_revenue": "872000", "country": "Germany", "state": "Berlin", "city": "Berlin", "type": "Prospect", "owner": "Chen Wei", "created_at": "2023-08-26T00:24:41Z", "updated_at": "2026-07-18T02:54:22Z", "tech_stack": "Salesforce", "intent_score": "34", "web_visits_30d": "22", "last_activity_at": "2026-07-31T07:57:38Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "", "crmseg_segment": "SMB", "crmseg_tier": "Tier 2", "crmseg_stage": "Engaged", "crmseg_icp_score": 50, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000009','{"id": "acc-000009", "name": "Quantumworks Cloud Inc.", "domain": "quantumworkscloud.io", "industry": "Software", "employees": "9", "annual_revenue": "2,786,000.00", "country": "us", "state": "MA", "city": "Cambridge", "type": "Prospect", "owner": "Chen Wei", "created_at": "2024-01-28T05:05:05Z", "updated_at": "2026-10-14T13:21:23Z", "tech_stack": "HubSpot;Snowflake;Segment;Zendesk", "intent_score": "42", "web_visits_30d": "21", "last_activity_at": "2026-07-13T09:18:31Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "lead", "crmseg_segment": "Digital Native", "crmseg_tier": "Tier 2", "crmseg_stage": "Engaged", "crmseg_icp_score": 67, "crmseg_pin": "false"}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000010','{"id": "acc-000010", "name": "Granitepoint Bio LLC", "domain": "granitepoint.com", "industry": "Hospital & Health Care", "employees": "440.0", "annual_revenue": "56,341,000.00", "country": "US", "state": "NY", "city": "New York", "type": "Prospect", "owner": "Lukas Schmidt", "created_at": "2025-06-06T07:27:08Z", "updated_at": "2026-09-06T09:13:25Z", "tech_stack": "HubSpot;AWS;Marketo;Slack", "intent_score": "38", "web_visits_30d": "19", "last_activity_at": "2026-07-18T22:00:57Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "false", "customer_since": "", "lifecycle_stage": "lead", "crmseg_segment": "Mid-Market", "crmseg_tier": "Tier 2", "crmseg_stage": "Engaged", "crmseg_icp_score": 50, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000011','{"id": "acc-000011", "name": "Oakpeak Insurance", "domain": "oakpeak.es", "industry": "Insurance", "employees": "165", "annual_revenue": "20117000", "country": "Spain", "state": "", "city": "Barcelona", "type": "Prospect", "owner": "Lukas Schmidt", "created_at": "2021-07-02T15:06:23Z", "updated_at": "2026-08-30T12:50:17Z", "tech_stack": "HubSpot;AWS;Snowflake;Marketo;Slack", "intent_score": "16", "web_visits_30d": "7", "last_activity_at": "2026-04-08T20:56:06Z", "open_opportunities": "0", "won_opportunities": "0", "is_customer": "No", "customer_since": "", "lifecycle_stage": "marketingqualifiedlead", "crmseg_segment": "Digital Native", "crmseg_tier": "Tier 2", "crmseg_stage": "Engaged", "crmseg_icp_score": 50, "crmseg_pin": ""}',1,2);
INSERT INTO "accounts" VALUES('demo','acc-000012','{"id": "acc-000012", "name": "Coralleaf Partners SAS", "domain": "coralleaf.fr", "industry": "Professional Services", "employees": "15324", "annual_revenue": "1146746000", "country": "France", "state": "\u00cele-de-France", "city": "Paris", "type": "Customer", "owner": "Jordan Lee", "created_at": "2022-04-02T06:37:26Z", "updated_at": "2026-10-13T09:32:53Z", "tech_stack": "Salesforce;AWS;Snowflake;Zendesk", "intent_score": "36", "web_visits_30d": "5", "last_activity_at": "2026-03-23T02:55:43Z", "open_opportunities": "0", "won_opportunities": "3", "is_customer": "true", "customer_since": "2021-12-17", "lifecycle_stage": "customer", "crmseg_segment": "Enterprise", "crmseg_tier": "Tier 3", "crmseg_stage": "Post-sale", "crmseg_icp_score": 45, "crmseg_pin": ""}',1,2);
CREATE TABLE locks (
            sync TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
            acquired_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema_version','5');
CREATE TABLE outbox (
            sync TEXT NOT NULL, account TEXT NOT NULL, run INTEGER NOT NULL, dims TEXT NOT NULL,
            fields TEXT NOT NULL, PRIMARY KEY (sync, account));
CREATE TABLE record_errors (
            sync TEXT NOT NULL, account TEXT NOT NULL, error TEXT NOT NULL, permanent INTEGER NOT NULL,
            attempts INTEGER NOT NULL, targets TEXT NOT NULL, first_run INTEGER, last_run INTEGER, at TEXT,
            PRIMARY KEY (sync, account));
CREATE TABLE rule_status (
            sync TEXT PRIMARY KEY, fingerprint TEXT, since TEXT, rejected_fingerprint TEXT,
            rejected_at TEXT, rejected_problems TEXT, reporter TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, sync TEXT NOT NULL, mode TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT,
            n_read INTEGER NOT NULL DEFAULT 0, n_evaluated INTEGER NOT NULL DEFAULT 0,
            n_changed INTEGER NOT NULL DEFAULT 0, n_written INTEGER NOT NULL DEFAULT 0,
            n_failed INTEGER NOT NULL DEFAULT 0, n_pinned INTEGER NOT NULL DEFAULT 0,
            n_api_calls INTEGER NOT NULL DEFAULT 0,
            watermark_before TEXT, watermark_after TEXT, rules_fingerprint TEXT,
            message TEXT, holder TEXT, n_blocked INTEGER NOT NULL DEFAULT 0, api_remaining INTEGER, drift_alert TEXT);
INSERT INTO "runs" VALUES(1,'demo','full','succeeded','2026-12-06T05:22:19.103713Z','2026-12-06T05:22:19.107765Z',12,12,11,11,0,1,0,NULL,NULL,'0cc44b62858a83ca',NULL,'vm:12583:353551d0',0,NULL,NULL);
INSERT INTO "runs" VALUES(2,'demo','full','succeeded','2026-12-06T05:22:20.849455Z','2026-12-06T05:22:20.853956Z',12,12,11,11,0,1,0,NULL,NULL,'0cc44b62858a83ca',NULL,'vm:12591:db22d254',0,NULL,NULL);
CREATE TABLE schedules (
            sync TEXT NOT NULL, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
            next_run TEXT, expires_at TEXT NOT NULL, PRIMARY KEY (sync, holder));
CREATE TABLE snapshots (
            sync TEXT NOT NULL, run INTEGER NOT NULL, dimension TEXT NOT NULL, label TEXT NOT NULL,
            n INTEGER NOT NULL, PRIMARY KEY (sync, run, dimension, label));
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','40',1);
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','45',2);
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','50',6);
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','67',1);
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','7',1);
INSERT INTO "snapshots" VALUES('demo',1,'icp_score','85',1);
INSERT INTO "snapshots" VALUES('demo',1,'segment','Digital Native',5);
INSERT INTO "snapshots" VALUES('demo',1,'segment','Enterprise',2);
INSERT INTO "snapshots" VALUES('demo',1,'segment','Mid-Market',2);
INSERT INTO "snapshots" VALUES('demo',1,'segment','SMB',3);
INSERT INTO "snapshots" VALUES('demo',1,'stage','Aware',2);
INSERT INTO "snapshots" VALUES('demo',1,'stage','Engaged',4);
INSERT INTO "snapshots" VALUES('demo',1,'stage','MQA',2);
INSERT INTO "snapshots" VALUES('demo',1,'stage','Post-sale',2);
INSERT INTO "snapshots" VALUES('demo',1,'stage','Qualified',2);
INSERT INTO "snapshots" VALUES('demo',1,'tier','Tier 1',1);
INSERT INTO "snapshots" VALUES('demo',1,'tier','Tier 2',7);
INSERT INTO "snapshots" VALUES('demo',1,'tier','Tier 3',4);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','40',2);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','45',1);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','50',5);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','60',1);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','67',1);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','7',1);
INSERT INTO "snapshots" VALUES('demo',2,'icp_score','85',1);
INSERT INTO "snapshots" VALUES('demo',2,'segment','Digital Native',4);
INSERT INTO "snapshots" VALUES('demo',2,'segment','Enterprise',4);
INSERT INTO "snapshots" VALUES('demo',2,'segment','Mid-Market',1);
INSERT INTO "snapshots" VALUES('demo',2,'segment','SMB',3);
INSERT INTO "snapshots" VALUES('demo',2,'stage','Aware',2);
INSERT INTO "snapshots" VALUES('demo',2,'stage','Engaged',4);
INSERT INTO "snapshots" VALUES('demo',2,'stage','MQA',2);
INSERT INTO "snapshots" VALUES('demo',2,'stage','Post-sale',2);
INSERT INTO "snapshots" VALUES('demo',2,'stage','Qualified',2);
INSERT INTO "snapshots" VALUES('demo',2,'tier','Tier 1',1);
INSERT INTO "snapshots" VALUES('demo',2,'tier','Tier 2',7);
INSERT INTO "snapshots" VALUES('demo',2,'tier','Tier 3',4);
CREATE TABLE sync_state (
            sync TEXT PRIMARY KEY, watermark TEXT, rules_fingerprint TEXT, read_fingerprint TEXT,
            last_full_at TEXT, crm_identity TEXT, crm_where TEXT);
INSERT INTO "sync_state" VALUES('demo',NULL,'0cc44b62858a83ca','2b7a0654d9c56fcd','2026-12-06T05:22:20.849455Z','file:/tmp/i16f/mig2/accounts.csv','');
CREATE TABLE tags (
            sync TEXT NOT NULL, account TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT,
            rule TEXT, run INTEGER NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (sync, account, dimension));
INSERT INTO "tags" VALUES('demo','acc-000001','stage','MQA','mqa',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000001','tier','Tier 1','tier-1',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000002','stage','Aware','aware',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000003','segment','Enterprise','enterprise',2,'2026-12-06T05:22:20.852499Z');
INSERT INTO "tags" VALUES('demo','acc-000003','tier','Tier 3','(default)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000006','icp_score','7','(pinned)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000006','segment','SMB','(pinned)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000006','stage','Aware','(pinned)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000006','tier','Tier 3','(pinned)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000008','segment','SMB','smb',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000008','stage','Engaged','engaged',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000008','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000010','segment','Mid-Market','mid-market',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000012','tier','Tier 3','(default)',1,'2026-12-06T05:22:19.106146Z');
INSERT INTO "tags" VALUES('demo','acc-000001','icp_score','85','industry-core+size-growing+target-market+crm-integration+modern-data-stack+intent-high+web-visits-high+activity-this-quarter',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000001','segment','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000002','icp_score','50','industry-core+size-large+target-market+crm-integration',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000002','segment','Enterprise','enterprise',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000002','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000003','icp_score','40','industry-core+size-large+target-market',2,'2026-12-06T05:22:20.852499Z');
INSERT INTO "tags" VALUES('demo','acc-000003','stage','Qualified','qualified',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000004','icp_score','60','industry-core+size-large+target-market+crm-integration+modern-data-stack',2,'2026-12-06T05:22:20.852499Z');
INSERT INTO "tags" VALUES('demo','acc-000004','segment','Enterprise','enterprise',2,'2026-12-06T05:22:20.852499Z');
INSERT INTO "tags" VALUES('demo','acc-000004','stage','Qualified','qualified',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000004','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000005','icp_score','40','industry-core+target-market+modern-data-stack',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000005','segment','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000005','stage','Post-sale','post-sale',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000005','tier','Tier 3','(default)',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000007','icp_score','50','target-market+crm-integration+intent-high+web-visits-high+activity-this-quarter',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000007','segment','SMB','smb',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000007','stage','MQA','mqa',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000007','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000008','icp_score','50','industry-core+target-market+crm-integration+web-visits-high',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000009','icp_score','67','industry-core+target-market+crm-integration+modern-data-stack+intent-medium+web-visits-high',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000009','segment','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000009','stage','Engaged','engaged',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000009','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000010','icp_score','50','industry-adjacent+size-sweet-spot+target-market+crm-integration+web-visits-some',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000010','stage','Engaged','engaged',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000010','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000011','icp_score','50','industry-core+size-growing+crm-integration+modern-data-stack+web-visits-some',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000011','segment','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000011','stage','Engaged','engaged',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000011','tier','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000012','icp_score','45','size-large+target-market+crm-integration+modern-data-stack+web-visits-some',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000012','segment','Enterprise','enterprise',1,'2026-12-06T05:22:19.106599Z');
INSERT INTO "tags" VALUES('demo','acc-000012','stage','Post-sale','post-sale',1,'2026-12-06T05:22:19.106599Z');
CREATE TABLE transitions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, sync TEXT NOT NULL, account TEXT NOT NULL, dimension TEXT NOT NULL,
            from_value TEXT, to_value TEXT, rule TEXT, run INTEGER NOT NULL, at TEXT NOT NULL, first_eval INTEGER);
INSERT INTO "transitions" VALUES(1,'demo','acc-000001','icp_score','83','85','industry-core+size-growing+target-market+crm-integration+modern-data-stack+intent-high+web-visits-high+activity-this-quarter',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(2,'demo','acc-000001','segment','SMB','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(3,'demo','acc-000002','icp_score','23','50','industry-core+size-large+target-market+crm-integration',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(4,'demo','acc-000002','segment','Strategic','Enterprise','enterprise',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(5,'demo','acc-000002','tier','Tier 3','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(6,'demo','acc-000003','icp_score','4','45','industry-core+size-sweet-spot+target-market',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(7,'demo','acc-000003','stage','Aware','Qualified','qualified',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(8,'demo','acc-000004','icp_score','20','50','industry-core+target-market+crm-integration+modern-data-stack',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(9,'demo','acc-000004','segment','SMB','Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(10,'demo','acc-000004','stage','Aware','Qualified','qualified',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(11,'demo','acc-000004','tier','Tier 3','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(12,'demo','acc-000005','icp_score',NULL,'40','industry-core+target-market+modern-data-stack',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(13,'demo','acc-000005','segment',NULL,'Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(14,'demo','acc-000005','stage',NULL,'Post-sale','post-sale',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(15,'demo','acc-000005','tier',NULL,'Tier 3','(default)',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(16,'demo','acc-000007','icp_score',NULL,'50','target-market+crm-integration+intent-high+web-visits-high+activity-this-quarter',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(17,'demo','acc-000007','segment',NULL,'SMB','smb',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(18,'demo','acc-000007','stage',NULL,'MQA','mqa',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(19,'demo','acc-000007','tier',NULL,'Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(20,'demo','acc-000008','icp_score','33','50','industry-core+target-market+crm-integration+web-visits-high',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(21,'demo','acc-000009','icp_score',NULL,'67','industry-core+target-market+crm-integration+modern-data-stack+intent-medium+web-visits-high',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(22,'demo','acc-000009','segment',NULL,'Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(23,'demo','acc-000009','stage',NULL,'Engaged','engaged',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(24,'demo','acc-000009','tier',NULL,'Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(25,'demo','acc-000010','icp_score','29','50','industry-adjacent+size-sweet-spot+target-market+crm-integration+web-visits-some',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(26,'demo','acc-000010','stage','Aware','Engaged','engaged',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(27,'demo','acc-000010','tier','Tier 3','Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(28,'demo','acc-000011','icp_score',NULL,'50','industry-core+size-growing+crm-integration+modern-data-stack+web-visits-some',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(29,'demo','acc-000011','segment',NULL,'Digital Native','digital-native',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(30,'demo','acc-000011','stage',NULL,'Engaged','engaged',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(31,'demo','acc-000011','tier',NULL,'Tier 2','tier-2',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(32,'demo','acc-000012','icp_score','0','45','size-large+target-market+crm-integration+modern-data-stack+web-visits-some',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(33,'demo','acc-000012','segment','Mid Market','Enterprise','enterprise',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(34,'demo','acc-000012','stage','Customer','Post-sale','post-sale',1,'2026-12-06T05:22:19.106599Z',1);
INSERT INTO "transitions" VALUES(35,'demo','acc-000003','icp_score','45','40','industry-core+size-large+target-market',2,'2026-12-06T05:22:20.852499Z',0);
INSERT INTO "transitions" VALUES(36,'demo','acc-000003','segment','Mid-Market','Enterprise','enterprise',2,'2026-12-06T05:22:20.852499Z',0);
INSERT INTO "transitions" VALUES(37,'demo','acc-000004','icp_score','50','60','industry-core+size-large+target-market+crm-integration+modern-data-stack',2,'2026-12-06T05:22:20.852499Z',0);
INSERT INTO "transitions" VALUES(38,'demo','acc-000004','segment','Digital Native','Enterprise','enterprise',2,'2026-12-06T05:22:20.852499Z',0);
CREATE INDEX runs_sync ON runs (sync, id);
CREATE INDEX transitions_sync_run ON transitions (sync, run);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('runs',2);
INSERT INTO "sqlite_sequence" VALUES('transitions',38);
COMMIT;
