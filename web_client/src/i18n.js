// Every visible string, in Vietnamese (the default) and English.
// The choice is remembered in localStorage.

const STRINGS = {
  vi: {
    skip: "Bỏ qua đến nội dung",
    brand: "Hội chẩn từ xa",
    "intro.title": "Mạng lưới khám chữa bệnh từ xa",
    "intro.body":
      "Bác sĩ tuyến huyện và chuyên gia tuyến trung ương cùng hội chẩn qua video, xem chung phim CT, siêu âm và điện tâm đồ, và tham gia các buổi đào tạo trực tuyến. Bệnh nhân tham gia từ một đường liên kết, không cần cài đặt.",
    "login.title": "Đăng nhập",
    "login.username": "Tên đăng nhập",
    "login.password": "Mật khẩu",
    "login.submit": "Đăng nhập",
    "login.missing": "Vui lòng nhập tên đăng nhập và mật khẩu.",
    "login.failed": "Đăng nhập không thành công",
    "login.network": "Không kết nối được máy chủ. Vui lòng thử lại.",
    "home.welcome": "Xin chào",
    "home.role": "Vai trò",
    "home.facility": "Cơ sở",
    "home.connection": "Kết nối thời gian thực",
    "home.logout": "Đăng xuất",
    "rt.online": "Đã kết nối",
    "rt.offline": "Mất kết nối, đang thử lại…",
    "rt.connecting": "Đang kết nối…",
    "role.admin": "Quản trị",
    "role.specialist": "Chuyên gia",
    "role.doctor": "Bác sĩ",
    "role.nurse": "Điều dưỡng",
    "role.trainer": "Giảng viên",
    footer:
      "Phần mềm mã nguồn mở. Dữ liệu bệnh nhân được mã hoá trên đường truyền và mọi truy cập đều được ghi nhật ký.",
    "none": "—",
  },
  en: {
    skip: "Skip to content",
    brand: "Telehealth",
    "intro.title": "A national tele-consultation network",
    "intro.body":
      "District doctors and central-hospital specialists consult together over video, look at the same CT, ultrasound and ECG, and join training sessions online. Patients join from a link, with nothing to install.",
    "login.title": "Log in",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.missing": "Please enter your user name and password.",
    "login.failed": "Log-in failed",
    "login.network": "Cannot reach the server. Please try again.",
    "home.welcome": "Welcome",
    "home.role": "Role",
    "home.facility": "Facility",
    "home.connection": "Real-time connection",
    "home.logout": "Log out",
    "rt.online": "Connected",
    "rt.offline": "Disconnected, retrying…",
    "rt.connecting": "Connecting…",
    "role.admin": "Administrator",
    "role.specialist": "Specialist",
    "role.doctor": "Doctor",
    "role.nurse": "Nurse",
    "role.trainer": "Trainer",
    footer:
      "Open-source software. Patient data is encrypted in transit and every access is logged.",
    "none": "—",
  },
};

export const LANGUAGES = Object.keys(STRINGS);
const KEY = "telehealth.lang";
let current = LANGUAGES.includes(localStorage.getItem(KEY)) ? localStorage.getItem(KEY) : "vi";

export function t(key) {
  return STRINGS[current][key] ?? STRINGS.en[key] ?? key;
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  localStorage.setItem(KEY, lang);
  applyTranslations();
}

export function applyTranslations(root = document) {
  document.documentElement.lang = current;
  document.title = t("brand");
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const button of root.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === current));
  }
  document.dispatchEvent(new CustomEvent("languagechange"));
}
