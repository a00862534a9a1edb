/**
 * Word lists for the match benchmark: the vocabulary of geopolitical, trade, minerals and
 * market briefs. Base words are inflected (`control`, `controls`, `controlled`, `controlling`)
 * so that prefix queries (`control*`) and the no-stemming rule have something to bite on.
 */

const baseWords = `
sanction tariff export import quota embargo license licence control restriction ban duty levy
subsidy procurement stockpile reserve inventory shipment cargo freight vessel tanker port strait
corridor pipeline refinery smelter mine mining deposit ore concentrate processing refining
separation recycling recovery supply demand shortage surplus glut deficit output production
capacity throughput yield grade purity magnet battery cathode anode cell semiconductor chip wafer
foundry lithography fab turbine motor vehicle drone missile satellite radar sensor network cable
grid reactor uranium enrichment warhead treaty accord pact agreement memorandum framework summit
ministry minister cabinet parliament senate congress election coalition opposition referendum
protest strike unrest coup insurgency militia border frontier incursion skirmish clash ceasefire
truce offensive mobilization deployment drill exercise blockade patrol interception seizure
escalation deescalation deterrence retaliation sanctioning designation blacklist entity list
investment divestment acquisition merger takeover stake joint venture partnership offtake financing
loan bond yield spread currency devaluation inflation rate hike cut central bank liquidity default
restructuring bailout debt fiscal budget deficit revenue royalty windfall tax nationalization
expropriation permit concession auction tender bid contract award arbitration dispute lawsuit
ruling tribunal court investigation probe audit compliance enforcement violation penalty fine
smuggling diversion transshipment loophole evasion screening vetting review approval veto
consultation negotiation talks dialogue delegation envoy visit communique statement warning
threat risk exposure vulnerability dependence diversification resilience security sovereignty
autonomy alliance bloc partner rival competitor adversary neighbor ally hegemony influence
leverage chokepoint bottleneck disruption outage shutdown closure delay congestion backlog
rerouting insurance premium rate charter demurrage container bulk carrier terminal berth
drought flood heatwave cyclone typhoon earthquake wildfire harvest crop planting yield fertilizer
grain wheat corn soybean rice sugar coffee cocoa palm cotton livestock fishery water dam
electricity power coal gas oil crude diesel gasoline jet fuel naphtha condensate lng lpg
hydrogen ammonia methanol solar wind nuclear hydro geothermal storage transmission interconnector
price benchmark futures forward spot contango backwardation volatility hedge speculation
position inflow outflow allocation rally selloff rebound slump plunge surge spike dip rout
equity stock index share earnings guidance forecast outlook downgrade upgrade rating outlook
analyst investor trader fund manager insurer lender borrower exporter importer producer
consumer buyer seller broker dealer shipper carrier operator contractor supplier vendor
manufacturer automaker chipmaker miner refiner smelter utility developer regulator agency
commission authority council committee bureau office department directorate inspectorate
customs border guard navy army air force coast guard intelligence service police militia
sovereign state province region district city capital town village island peninsula basin
delta plateau valley coast shelf field block well rig platform lease acreage
intellectual property patent technology transfer know how standard specification certification
cyber attack ransomware breach espionage hacking malware outage vulnerability patch
data privacy localization cloud computing artificial intelligence model algorithm
infrastructure railway highway bridge airport logistics warehouse hub zone park cluster
labor wage union workforce migration visa permit quota remittance
humanitarian aid relief refugee displacement famine epidemic outbreak vaccine
sanctioned listed designated targeted restricted prohibited exempted waived suspended lifted
tightened eased extended expanded reduced increased doubled halved frozen unfrozen
announced proposed adopted approved rejected signed ratified implemented enforced delayed
planned expected reported confirmed denied disputed alleged estimated projected
critical strategic sensitive dual use advanced emerging legacy domestic foreign regional
global bilateral multilateral unilateral trilateral maritime naval territorial continental
upstream midstream downstream primary secondary tertiary heavy light rare precious base
`;

/** Function words and generic verbs that fill briefs but that analysts never put in a rule. */
export const stopWords = `
the of and to in a on for with by as at from that this is are was were be been has have had
it its their his her they which while also over into after before about between under more
most than such other new will would could should may might can not but or if so both each
any some many much further across through during against within without among toward upon
`
  .trim()
  .split(/\s+/);

export const countries = `
China;United States;Japan;India;Russia;Ukraine;Germany;France;United Kingdom;Italy;Spain;Poland;
Netherlands;Belgium;Sweden;Norway;Finland;Denmark;Turkey;Iran;Iraq;Israel;Saudi Arabia;
United Arab Emirates;Qatar;Kuwait;Oman;Yemen;Egypt;Libya;Algeria;Morocco;Nigeria;Ghana;
South Africa;Democratic Republic of the Congo;Zambia;Zimbabwe;Mozambique;Tanzania;Kenya;Ethiopia;
Sudan;Mali;Niger;Guinea;Brazil;Argentina;Chile;Peru;Bolivia;Colombia;Venezuela;Mexico;Canada;
Australia;Indonesia;Philippines;Vietnam;Thailand;Malaysia;Singapore;Myanmar;South Korea;
North Korea;Taiwan;Pakistan;Bangladesh;Sri Lanka;Kazakhstan;Uzbekistan;Mongolia;Georgia;
Azerbaijan;Armenia;Serbia;Hungary;Romania;Greece;Portugal;Switzerland;Austria;Czech Republic;
Belarus;Lithuania;Latvia;Estonia;New Zealand;Papua New Guinea;Greenland;Gabon;Namibia;Botswana
`;

export const companies = `
Sumitomo;Mitsubishi;Glencore;Rio Tinto;BHP;Vale;Anglo American;Freeport-McMoRan;Albemarle;SQM;
Ganfeng Lithium;Tianqi Lithium;CATL;BYD;LG Energy Solution;Panasonic;Samsung;SK Hynix;TSMC;
Intel;Nvidia;ASML;Applied Materials;Tokyo Electron;Lynas;MP Materials;China Northern Rare Earth;
Iluka;Neo Performance Materials;Phoenix Tailings;Umicore;Johnson Matthey;Norilsk Nickel;
Tsingshan;Eramet;Zijin Mining;CMOC;Ivanhoe Mines;First Quantum;Codelco;Antofagasta;Southern Copper;
Barrick;Newmont;Alcoa;Rusal;Chalco;Aramco;ExxonMobil;Chevron;Shell;BP;TotalEnergies;Equinor;
Gazprom;Rosneft;Sinopec;PetroChina;CNOOC;QatarEnergy;ADNOC;Maersk;COSCO;MSC;Hapag-Lloyd;
Evergreen;Trafigura;Vitol;Mercuria;Cargill;Bunge;ADM;Louis Dreyfus;Tesla;Volkswagen;Toyota;
Hyundai;Ford;General Motors;Siemens;Siemens Energy;Vestas;Boeing;Airbus;Lockheed Martin;Raytheon;
Huawei;SMIC;Micron;Qualcomm;Apple;Foxconn;Nikkei;Reuters;Bloomberg
`;

export const organizations = `
European Union;European Commission;NATO;OPEC;OPEC+;World Trade Organization;IMF;World Bank;
United Nations;UN Security Council;G7;G20;BRICS;ASEAN;African Union;Quad;
Ministry of Commerce;Department of Commerce;Bureau of Industry and Security;Treasury;OFAC;
Federal Reserve;European Central Bank;Bank of Japan;People's Bank of China;METI;JOGMEC;
International Energy Agency;London Metal Exchange;CME Group;Shanghai Futures Exchange
`;

export const commodities = `
rare earths;dysprosium;neodymium;praseodymium;terbium;yttrium;lanthanum;cerium;samarium;
lithium;cobalt;nickel;manganese;graphite;copper;aluminium;bauxite;alumina;zinc;lead;tin;
tungsten;molybdenum;vanadium;titanium;gallium;germanium;antimony;indium;tantalum;niobium;
platinum;palladium;rhodium;gold;silver;iron ore;steel;uranium;polysilicon;silicon;magnesium;
crude oil;natural gas;LNG;coal;thermal coal;coking coal;diesel;jet fuel;wheat;corn;soybeans;
rice;sugar;coffee;cocoa;palm oil;fertilizer;potash;phosphate;urea;helium;neon
`;

export const regions = `
East Asia;South Asia;Southeast Asia;Central Asia;Middle East;North Africa;Sub-Saharan Africa;
West Africa;East Africa;Southern Africa;Western Europe;Eastern Europe;Nordics;Baltics;Balkans;
North America;Latin America;South America;Andes;Caribbean;Oceania;Arctic;Indo-Pacific;
South China Sea;Red Sea;Black Sea;Persian Gulf;Strait of Hormuz;Strait of Malacca;Taiwan Strait;
Suez Canal;Panama Canal;Gulf of Guinea;Horn of Africa;Caucasus;Sahel
`;

export const topics = `
export controls;critical minerals;supply chain security;energy security;food security;
semiconductor controls;sanctions enforcement;trade war;tariff escalation;shipping disruption;
maritime security;resource nationalism;mining investment;battery supply chain;EV transition;
energy transition;defense procurement;nuclear proliferation;cyber security;industrial policy;
monetary policy;sovereign debt;commodity prices;currency markets;election risk;
political instability;border conflict;migration pressure;climate risk;water stress;
investment screening;technology transfer;strategic stockpiles;recycling and recovery;
offtake agreements;refining capacity;price volatility;market access;friend-shoring;de-risking
`;

/** Multi-word phrases that briefs use and analysts quote. */
export const phrases = `
export controls;export licence;export licensing;export ban;rare earth magnets;critical minerals;
supply chain;supply disruption;price cap;price floor;windfall tax;local content;
investment screening;entity list;dual use;secondary sanctions;shadow fleet;ship-to-ship transfer;
free trade agreement;anti-dumping duties;countervailing duties;safeguard measures;
processing capacity;refining capacity;offtake agreement;joint venture;strategic reserve;
production cut;output quota;force majeure;port closure;naval blockade;missile strike;
drone attack;ceasefire talks;peace talks;snap election;central bank;rate hike;rate cut;
currency peg;capital controls;debt restructuring;credit rating;sovereign default;
energy transition;electric vehicles;battery materials;semiconductor equipment;advanced chips;
chip export rules;technology transfer;intellectual property;forced labour;human rights;
mineral security partnership;critical raw materials act;inflation reduction act;
belt and road;resource nationalism;royalty increase;mining code;license revocation;
grain corridor;shipping lanes;insurance premiums;freight rates;container rates;
war risk premium;supply glut;inventory drawdown;market share;price war
`;

function list(text: string): string[] {
  return text
    .split(';')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Verbs of news and policy: each also takes its verb forms. */
const verbWords = `
abandon absorb accelerate accumulate accuse acknowledge activist adjust administer adopt advise
advocate affiliate aggregate aggression agenda aggressor aircraft airspace alarm align allege
allocate ambassador ambition amend ammunition analyse annex anticipate appeal appetite appoint
arms arrest arsenal assembly assert assess asset assign assist assure asylum attempt attract
authorize aviation backlash balance ballot bank barrel barrier baseline battlefield benchmark
billion blame bolster boost boycott breakthrough brigade broaden buffer bullion bureaucracy
bypass calculate campaign candidate capitulate capture casualty catalyst caution censor census
challenge channel charge chemical circulate citizen civilian claim clarify classify climate
clampdown collapse collateral colony combat command commerce commit commodity communicate
compensate compete complain complex component compromise concede concern conclude condemn
conduct confidence confiscate conflict confront congestion consensus conserve consolidate
constrain construct consume contain contend contest contingent contract contribute convene
convert convoy cooperate coordinate copper corporate corruption counter counterpart crackdown
credit crisis criticize cross crucial curb curfew custody cushion damage deadline deal decline
decree dedicate defeat defend defer deficit delegate deliver demolish demonstrate deny depart
deplete deport deposit depreciate deputy derail deregulate destabilize destination destroy
detain detect deter deteriorate devalue devastate diplomat diplomacy direct disarm disburse
discount discover discuss dismantle dismiss dispatch displace dissent dissolve distort distribute
diverge dividend doctrine dominate donate donor draft drain dump economy economist edge elect
embassy emerge emission employ enable encourage endorse endure energy engage engineer enlarge
ensure enterprise envisage equip erode escalate establish evacuate evaluate evidence exceed
exchange exclude execute exempt exhaust expand expedite expel expire exploit explore explosion
expose extend extract facilitate faction factory falter favor feedstock fighter finalize firm
fleet flotilla fluctuate focus forbid foreign forge formulate fortify foster fraction fragile
freeze frontline fuel fulfil fund gain gather generate govern government guarantee guard guide
halt hamper harbor harden harvest hedge hinder hire host hostage hostile identify ignite impact
impeach impede impose impound improve incentive incident income incur indicate indict industry
inflate inform initiate inject innovate inspect install instability institute integrate intend
intensify intervene introduce invade invasion issue jeopardize judge jurisdiction justify
keystone kinetic launch leader legislate legislation lend liberalize limit liquidate litigate
lobby locate lockdown loosen lose maintain mandate margin market mediate militant military
minimize mission mitigate mobilize moderate modernize monitor monopoly moratorium mortgage
mount negotiate neutral nominate normalize notify objective obligation obstruct obtain occupy
offset operate oppose optimize oust outpace outperform overhaul override oversee overturn
parity participate patrol pause payment peacekeeper pension perform persist pivot pledge plunge
poll portfolio posture predict prefer prepare preserve preside pressure prevail prevent
privatize proceed proclaim profit prohibit project proliferate prolong promise promote propose
prosecute protect provoke publish purchase pursue qualify quarantine raid raise ratify reassure
rebel rebuild recall receive reclaim recommend reconcile recruit rectify redeploy redistribute
reduce refinance reform refuse regain regime register regulate reinforce reinstate reject
relocate rely remain remove renew renegotiate repay repeal replace replenish repress request
require rescue reserve reshape resign resist resolve respond restore restrain restructure
resume retain retire retreat revise revive revoke reward rework rival safeguard salvage
sabotage scale scrap scrutinize secure seize settle shelve shield shift shortfall shrink sign
slash slow soar solidify spark specify speculate spend spillover split sponsor stabilize stall
stimulate strain strengthen stretch subdue submit subpoena succeed suffer summon supervise
suppress surrender survey suspend sustain tackle target terminate territory testify tighten
tolerate topple trade transfer transit transition transport trigger troop trust undermine
undercut unify unveil uphold urge utilize vacate validate verify volume vote weaken widen
withdraw withhold witness worsen
`;

/** Bases that also take verb forms (`restricted`, `restricting`); the others only a plural. */
const verbs = new Set(
  `sanction tariff export import license licence control restrict ban subsidy stockpile ship refine
  recycle recover supply produce process mine cap embargo seize deploy block patrol intercept escalate
  retaliate designate invest divest acquire merge finance lend borrow default restructure tax audit
  probe fine smuggle divert screen vet review approve veto negotiate warn threaten disrupt delay
  reroute insure charter hedge rally rebound slump plunge surge spike downgrade upgrade forecast
  manufacture regulate enforce violate patch attack breach hack strike protest mobilize drill`
    .concat(verbWords)
    .trim()
    .split(/\s+/),
);

/** The base words and, apart, their simple English inflections: a few thousand tokens in all. */
export function inflectedWords(): { bases: string[]; forms: string[] } {
  const words = new Set<string>();
  const forms: string[] = [];
  for (const base of `${baseWords} ${verbWords}`.trim().split(/\s+/)) {
    words.add(base);
    if (base.length < 4 || /(ed|ing|ly|al|ic|ive|ous|ary)$/.test(base)) continue;
    const stem = base.endsWith('e') ? base.slice(0, -1) : base;
    forms.push(
      /(s|x|ch|sh)$/.test(base)
        ? `${base}es`
        : /[^aeiou]y$/.test(base)
          ? `${base.slice(0, -1)}ies`
          : `${base}s`,
    );
    if (!verbs.has(base)) continue;
    const past = /[^aeiou]y$/.test(base)
      ? `${base.slice(0, -1)}ied`
      : /[^aeiou][aeiou][pbgtn]$/.test(base) && base.length <= 4
        ? `${base}${base.at(-1)}ed`
        : `${stem}ed`;
    forms.push(
      past,
      `${/[^aeiou][aeiou][pbgtn]$/.test(base) && base.length <= 4 ? base + base.at(-1) : stem}ing`,
    );
  }
  return { bases: [...words], forms: [...new Set(forms.filter((form) => !words.has(form)))] };
}

/** Modifier–head pairs that read as analysts' phrases: `critical supply`, `naval drill`, … */
const modifiers = `critical strategic export import naval border central sovereign maritime regional
  domestic foreign nuclear rare precious base heavy advanced emerging global bilateral fiscal
  military political industrial energy mining refining shipping freight trade market price
  supply production capacity investment security defense technology chip battery grain oil gas`;
const heads = `controls restrictions ban licences quota tariffs duties sanctions subsidies reserves stocks
  supply demand shortage surplus output capacity prices rates spreads flows routes corridor
  blockade drills patrols talks deal pact agreement summit review probe dispute crisis risk
  shock squeeze rally selloff outlook forecast guidance policy reform strategy security`;

function generatedPhrases(): string[] {
  const phrases: string[] = [];
  for (const modifier of modifiers.trim().split(/\s+/)) {
    for (const head of heads.trim().split(/\s+/)) phrases.push(`${modifier} ${head}`);
  }
  return phrases;
}

export const vocabulary = {
  countries: list(countries),
  companies: list(companies),
  organizations: list(organizations),
  commodities: list(commodities),
  regions: list(regions),
  topics: list(topics),
  phrases: [...new Set([...list(phrases), ...generatedPhrases()])],
};
